"""`edgekit inspect`: what a .tflite or .onnx file holds, read from the file alone (no TensorFlow, no interpreter).

    from edgekit.inspect import inspect_model
    record = inspect_model("model.tflite", edgetpu=True)   # JSON-ready dict
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import ArtifactNotAccepted, ModelFileError
from edgekit.inspect.edgetpu import EdgeTpuMapping, Placement, map_to_edgetpu
from edgekit.inspect.tflite import FILE_IDENTIFIER, TfliteModel, read_model_bytes, read_tflite

__all__ = ["EdgeTpuMapping", "Placement", "TfliteModel", "inspect_model", "map_to_edgetpu", "read_tflite"]

TFLITE_SUFFIXES = (".tflite", ".lite")
# Files people pass by mistake, known by their first bytes.
_OTHER_FORMATS = {b"PK\x03\x04": "a zip archive (a Keras .keras model?)",
                  b"\x89HDF\r\n\x1a\n": "an HDF5 file (a Keras .h5 model?)"}


def inspect_model(path: Path | str, edgetpu: bool = False) -> dict[str, Any]:
    """Inspect a .tflite or .onnx file; with `edgetpu`, add the Edge TPU mapping estimate (TFLite only).

    Raises:
        ModelFileError: the file is missing, not a model, truncated or corrupt.
        ArtifactNotAccepted: --edgetpu on an ONNX model.
    """
    from edgekit.inspect.onnx_model import summarize_onnx
    from edgekit.inspect.summary import summarize_tflite

    path = Path(path)
    data = read_model_bytes(path)
    if data[4:8] == FILE_IDENTIFIER or path.suffix.lower() in TFLITE_SUFFIXES:
        model = read_tflite(path, data)
        record = summarize_tflite(model)
        if edgetpu:
            record["edgetpu"] = map_to_edgetpu(model).to_json()
        return record
    for magic, what in _OTHER_FORMATS.items():
        if data.startswith(magic):
            raise ModelFileError(f"{path} is {what}; inspect reads .tflite and .onnx files")
    if path.suffix.lower() != ".onnx":
        try:
            record = summarize_onnx(path, data)
        except ModelFileError:
            raise ModelFileError(f"{path} is neither a TFLite model (no {FILE_IDENTIFIER.decode()!r} identifier at "
                                 f"byte 4) nor an ONNX model") from None
    else:
        record = summarize_onnx(path, data)
    if edgetpu:
        raise ArtifactNotAccepted(f"{path} is an ONNX model; the Edge TPU runs only TFLite models (inspect the "
                                  f"int8 .tflite artifact with --edgetpu instead)")
    return record
