"""The Python API: the example of docs/python-api.md runs as written (a tiny digits build on this machine)."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def example_code() -> str:
    """The one ```python block of docs/python-api.md."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, f"docs/python-api.md should have one python example, found {len(blocks)}"
    return blocks[0]


@pytest.mark.slow
def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(example_code(), str(DOC), "exec"), {"__name__": "python_api_example"})
    printed = capsys.readouterr().out
    assert re.search(r"tflite-int8: \d+ bytes, accuracy 0\.\d{3}, median \d+\.\d{4} ms", printed), printed
    assert "profiled again:" in printed and "fully integer: True" in printed
    assert "refused: " in printed and "is not a build folder" in printed
    assert (tmp_path / "api-demo" / "build" / "host" / "manifest.json").is_file()
