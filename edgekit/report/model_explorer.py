"""Model Explorer overlays: per-node numbers of each artifact, as node-data JSON.

Google's Model Explorer (`pip install ai-edge-model-explorer`) colours a graph by per-node values it reads from
`--node_data_paths`. Each file here is one `GraphNodeData` (model_explorer.node_data_builder): `results` maps a
node's output tensor name (Model Explorer matches it against the node's `tensor_name` output metadata, so the
keys need no knowledge of its node ids) to `{"value": number}`, and a gradient colours low values green and high
values red. Written into `<build>/model_explorer/`:

    <artifact>.quant-error.json   RMSE / output scale of every quantized op (int8 TFLite artifacts)
    <artifact>.latency.json       average ms per op, where the profiler measured per-op times (benchmark_model
                                  with op profiling, Android); absent where only whole-model latency exists

View one with:

    model-explorer build/host/export/NAME-int8.tflite \
        --node_data_paths=build/host/model_explorer/tflite-int8.quant-error.json
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil

FOLDER = "model_explorer"
# Low values green, high red: for error and for time, more is worse.
GRADIENT = [{"stop": 0, "bgColor": "#d8f3dc"}, {"stop": 0.5, "bgColor": "#ffe066"}, {"stop": 1, "bgColor": "#f28482"}]
# benchmark_model names an op "[output tensor name]:op index".
_PROFILED_NAME = re.compile(r"^\[(?P<tensor>.*)\]:\d+$")


def graph_node_data(name: str, values: dict[str, float]) -> dict[str, Any]:
    """One GraphNodeData document: `values` by output tensor name, coloured by the gradient."""
    return {"name": name, "results": {tensor: {"value": float(value)} for tensor, value in values.items()},
            "gradient": GRADIENT}


def quant_error_node_data(report: dict[str, Any]) -> dict[str, Any]:
    """RMSE/scale per quantized op of a `quantization_error` manifest entry."""
    return graph_node_data("quantization error (RMSE / scale)",
                           {layer["tensor"]: layer["rmse_over_scale"] for layer in report["layers"]})


def latency_node_data(op_profile: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """Average ms per op of a profile's `op_profile` rows, or None when no row names its tensor."""
    values: dict[str, float] = {}
    for row in op_profile:
        match = _PROFILED_NAME.match(str(row.get("name", "")))
        tensor = match.group("tensor") if match else row.get("name")
        if tensor and row.get("avg_ms") is not None:
            values[tensor] = values.get(tensor, 0.0) + float(row["avg_ms"])
    return graph_node_data("latency (avg ms)", values) if values else None


def write_node_data(build_dir: Path, manifest: dict[str, Any]) -> list[Path]:
    """Write every artifact's overlays into `<build_dir>/model_explorer/`; returns the files written.

    Files of artifacts that no longer have such numbers are removed, so the folder matches the manifest.
    """
    folder = build_dir / FOLDER
    documents: dict[str, dict[str, Any]] = {}
    for name, report in (manifest.get("quantization_error") or {}).items():
        if report.get("layers"):
            documents[f"{name}.quant-error.json"] = quant_error_node_data(report)
    for artifact in manifest["artifacts"]:
        latency = artifact.get("latency") or {}
        document = latency_node_data(latency.get("op_profile") or [])
        if document is not None:
            documents[f"{artifact['name']}.latency.json"] = document
    if folder.is_dir():
        for stale in folder.glob("*.json"):
            if stale.name not in documents:
                stale.unlink()
    written = []
    for file_name, document in documents.items():
        path = folder / file_name
        fsutil.write_json(path, document)
        written.append(path)
    return written
