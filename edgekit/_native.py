"""Keep native libraries' chatter off the user's terminal.

TensorFlow, the TFLite converter, LiteRT and onnxruntime print notices straight to file
descriptor 2 from C++ ("fully_quantize: 0, ...", "Created TensorFlow Lite XNNPACK delegate",
absl's pre-init warning), where Python cannot filter them. edgekit captures fd 2 around those
calls and shows the capture only when the call fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterator


@dataclass
class Captured:
    text: str = ""

    def tail(self, lines: int = 5) -> str:
        """The last lines, joined with ' / ' for a one-line message."""
        return " / ".join(line.strip() for line in self.text.strip().splitlines()[-lines:] if line.strip())


@contextlib.contextmanager
def captured_stderr() -> Iterator[Captured]:
    """Redirect fd 2 (C++ and Python writes alike) into a temporary file for the block.

    Set EDGEKIT_NATIVE_LOGS=1 to let everything through when debugging.
    """
    captured = Captured()
    if os.environ.get("EDGEKIT_NATIVE_LOGS") == "1":
        yield captured
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
