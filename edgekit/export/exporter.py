"""Turn the float and QAT Keras models into every (format, quantization) artifact, each made by the converter the
format table names (edgekit.config.formats.FORMATS[format].converter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.config.formats import FORMATS, Format, Quantization, format_spec, load_function
from edgekit.config.schema import Task
from edgekit.data.base import Splits
from edgekit.errors import ExportError


@dataclass
class Exported:
    """What a converter made: the model's bytes, how it was made (details go into the manifest's artifact), and
    files that belong with it, by the suffix they replace the model's suffix with ({".log": compiler log})."""

    model: bytes
    details: dict[str, Any]
    companions: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Exporter:
    """The models and data every converter may need, and the artifacts made so far (a derived format, such as
    edgetpu, is made from one of them).

    Attributes:
        float_model: the float Keras model (pruned when there is a prune stage).
        float_stage: the stage it came from ("train" or "prune").
        qat_model: the QAT model, or None.
        representative: preprocessed training samples that calibrate int8.
        data: the splits (the test split checks the float ONNX, the validation split chooses the int8 ONNX).
        opset: the ONNX opset.
        task: classification or regression.
        project: the configuration's name (artifact files are `<project>-<quantization><suffix>`).
        folder: the stage folder, relative to the build folder (paths in the manifest are relative to it).
        memo: what a converter keeps for the next call (the float ONNX is made once for float32 and int8).
        made: (format, quantization) -> (path, details) of each artifact written so far.
    """

    float_model: Any
    float_stage: str
    qat_model: Any
    representative: np.ndarray
    data: Splits
    opset: int
    task: Task = Task.CLASSIFICATION
    project: str = "model"
    folder: str = "export"
    memo: dict[str, Any] = field(default_factory=dict)
    made: dict[tuple[Format, Quantization], tuple[Path, dict[str, Any]]] = field(default_factory=dict)

    def export(self, fmt: Format, quantization: Quantization) -> Exported:
        """The artifact of `fmt` and `quantization`, made by its converter.

        Raises:
            ConfigError: a format the table does not know.
            ExportError: the format cannot be exported as `quantization`, or its converter failed.
            ToolError: the converter's package or tool is not installed.
        """
        spec = format_spec(fmt)
        if quantization not in spec.quantizations:
            supported = ", ".join(q.value for q in spec.quantizations)
            raise ExportError(f"{spec.name.value} cannot be exported as {quantization.value} (supported: {supported})")
        converter = load_function(spec.converter, spec.install_hint)
        return converter(self, quantization)

    def write(self, work: Path, fmt: Format, quantization: Quantization) -> dict[str, Any]:
        """Export `fmt`-`quantization` into `work` (the model and its companion files, each written atomically);
        returns its entry for the stage's metadata (name, format, quantization, file, details).
        """
        from edgekit import fsutil

        exported = self.export(fmt, quantization)
        file_name = self.file_name(fmt, quantization)
        fsutil.write_bytes(work / file_name, exported.model)
        for suffix, content in exported.companions.items():
            fsutil.write_bytes(work / companion_name(file_name, fmt, suffix), content)
        self.made[(fmt, quantization)] = (work / file_name, exported.details)
        return {"name": FORMATS[fmt].artifact_name(quantization), "format": fmt.value,
                "quantization": quantization.value, "file": file_name, **exported.details}

    def converter_source(self, which: str):
        """The TFLite converter's source for the float model ("float") or the QAT model ("qat"), saved once for
        every quantization made from it (edgekit.export.tflite.ConverterSource); `close()` deletes them."""
        from edgekit.export.tflite import ConverterSource

        key = f"tflite-source:{which}"
        if key not in self.memo:
            self.memo[key] = ConverterSource(self.qat_model if which == "qat" else self.float_model)
        return self.memo[key]

    def close(self) -> None:
        """Delete what converters saved for later calls (the TFLite converter's sources)."""
        from edgekit.export.tflite import ConverterSource

        for key, value in list(self.memo.items()):
            if isinstance(value, ConverterSource):
                value.close()
                del self.memo[key]

    def file_name(self, fmt: Format, quantization: Quantization) -> str:
        """The file name of an artifact in the export folder: `digits-cnn-int8_edgetpu.tflite`."""
        return FORMATS[fmt].file_name(self.project, quantization)

    def parent(self, fmt: Format, quantization: Quantization) -> tuple[Path, dict[str, Any]]:
        """(file, details) of the artifact `fmt`-`quantization` is made from (written earlier in this export).

        Raises:
            ExportError: it was not made (the configuration's validation should have refused this earlier).
        """
        parent = FORMATS[fmt].parent
        if parent is None or parent not in self.made:
            made = ", ".join(f"{f.value}-{q.value}" for f, q in self.made) or "none"
            raise ExportError(f"{fmt.value}-{quantization.value} is made from another artifact, which was not "
                              f"exported before it (exported so far: {made})")
        return self.made[parent]


def derived_formats(wanted: list[tuple[Format, Quantization]], accepted: list[Format],
                    tool_available) -> tuple[list[tuple[Format, Quantization]], list[str]]:
    """The derived artifacts (made from another artifact, e.g. edgetpu from tflite int8) that the export adds to
    `wanted`: those the target accepts (it needs them) or whose tool is on this machine.

    Args:
        wanted: the (format, quantization) pairs the configuration asks for.
        accepted: the formats the target runs.
        tool_available: `tool_available(name) -> bool` (shutil.which in a build).

    Returns:
        (the pairs to add, in table order; notes on derived artifacts that are not made and why).

    Raises:
        ToolError: the target needs a derived format whose tool is missing (the tool and how to install it).
    """
    from edgekit.errors import ToolError

    added: list[tuple[Format, Quantization]] = []
    notes: list[str] = []
    for spec in FORMATS.values():
        if spec.parent is None or (spec.name, spec.parent[1]) in wanted:
            continue
        pair = (spec.name, spec.parent[1])
        needed = spec.name in accepted
        available = spec.tool is None or tool_available(spec.tool)
        if spec.parent not in wanted:
            if needed:
                parent = FORMATS[spec.parent[0]].artifact_name(spec.parent[1])
                notes.append(f"the target runs {spec.name.value} models, which are made from the {parent} artifact, "
                             f"and export.formats/export.quantization do not ask for {parent}")
            continue
        if needed and not available:
            raise ToolError(f"the target runs only {spec.name.value} models, which export makes with {spec.tool}, "
                            f"and {spec.tool} is not on PATH: {spec.install_hint}")
        if needed or available:
            added.append(pair)
    return added, notes


def companion_name(file_name: str, fmt: Format, suffix: str) -> str:
    """A companion file's name: the artifact's name with the format's suffix replaced (`x_edgetpu.log`)."""
    model_suffix = Path(FORMATS[fmt].suffix).suffix  # ".tflite" of "_edgetpu.tflite"
    return file_name[: -len(model_suffix)] + suffix if file_name.endswith(model_suffix) else file_name + suffix
