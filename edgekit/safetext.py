"""Text from files, made safe to show: on a terminal, in XML, in JSON.

Names edgekit prints (artifacts, tensors, ops, devices, sources) come from files anyone may have written. A name
holding `ESC [ 2 J` clears the terminal when printed raw; a right-to-left override reorders what follows it; a
lone surrogate cannot be encoded and crashes the write; most C0 controls make an XML document invalid. Each is
shown as the escape Python would write in a string literal (`\\x1b`, `\\u202e`, `\\ud800`), so it stays visible
and the rest of the name is untouched.
"""

from __future__ import annotations

import math
import re
from typing import Any

# C0 and C1 controls, DEL, lone surrogates, and the Unicode bidirectional formatting characters (as regex ranges).
_OTHER_UNSAFE = r"\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE_CHARACTERS = re.compile(rf"[\x00-\x1f{_OTHER_UNSAFE}]")
# Messages keep their line breaks (\n) and tabs (\t); every other control is escaped.
_UNSAFE_IN_MESSAGES = re.compile(rf"[\x00-\x08\x0b-\x1f{_OTHER_UNSAFE}]")
# What XML 1.0 forbids besides the above (its Char production excludes U+FFFE and U+FFFF).
_NOT_XML = re.compile("[\ufffe\uffff]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a file name's byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any) -> str:
    """`text` (anything, shown with str()) with every control, bidi and surrogate character escaped: safe on a
    terminal, one line."""
    return _UNSAFE_CHARACTERS.sub(_escaped, str(text))


def printable_message(text: Any) -> str:
    """Like `printable`, keeping line breaks and tabs: for multi-line messages."""
    return _UNSAFE_IN_MESSAGES.sub(_escaped, str(text))


def xml_text(text: Any) -> str:
    """`text` with everything XML 1.0 cannot hold (and everything `printable` escapes) escaped."""
    return _NOT_XML.sub(_escaped, printable(text))


NON_FINITE_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by the string "NaN", "Infinity" or "-Infinity".

    Python's json writes these as bare NaN/Infinity, which is not JSON (RFC 8259): jq and JSON.parse refuse
    the whole document. Strings keep the value visible; a consumer that expects a number fails on that field
    only.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE_JSON[repr(value)]
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return finite_json(value.item())
    return value
