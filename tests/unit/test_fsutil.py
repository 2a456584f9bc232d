"""edgekit.fsutil: atomic writes that never fail half-way on text they cannot encode."""

from edgekit import fsutil


def test_a_lone_surrogate_is_written_as_its_escape(tmp_path):
    # A file name that is not UTF-8 reaches Python as a lone surrogate (os.fsdecode: b"\xe8" -> "\udce8").
    path = tmp_path / "page.html"
    fsutil.write_text(path, "model-\udce8.tflite")
    assert path.read_text(encoding="utf-8") == "model-\\udce8.tflite"
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_text_is_replaced_whole(tmp_path):
    path = tmp_path / "a.txt"
    fsutil.write_text(path, "first")
    fsutil.write_text(path, "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
