"""The one table of artifact formats edgekit makes: what each is, how it is made, judged, accepted and timed.

    FORMATS[Format.ONNX].converter      -> "edgekit.export.onnx:export_onnx"
    load_function(FORMATS["onnx"].evaluator, FORMATS["onnx"].install_hint)  # imported on first use

Export (edgekit.export.exporter), evaluation (edgekit.pipeline.evaluate), target acceptance
(`Target.refuses`) and the profile stage read this table, so a new format is one entry here plus its
functions. Functions are named as "module:attribute" strings and imported only when used, so the table sits in
the config layer (below everything that makes or runs models) and importing it imports no converter.
Rows are found by name (`FORMATS[Format.TFLITE]`), never by position.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping, Optional

from edgekit.errors import ConfigError, ToolError


class Format(str, Enum):
    """An artifact format edgekit exports (the Keras models of the train and prune stages are not in the table)."""

    TFLITE = "tflite"
    ONNX = "onnx"
    EDGETPU = "edgetpu"


class Quantization(str, Enum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


class Profiler(str, Enum):
    """The runtime that times an artifact on the device (edgekit's device profiler loads one of them)."""

    LITERT = "litert"  # ai-edge-litert or tflite_runtime, with the target's delegate
    ONNXRUNTIME = "onnxruntime"


@dataclass(frozen=True)
class FormatSpec:
    """One row of FORMATS.

    Attributes:
        name: the format.
        suffix: how the artifact's file name ends (`<name>-<quantization><suffix>`).
        quantizations: the flavours it can be exported as.
        converter: "module:function" making the artifact; called as `function(exporter, quantization)` and
            returning an `edgekit.export.exporter.Exported`.
        evaluator: "module:callable" that opens the artifact on this machine (`callable(path)` -> a runner
            mapping float inputs to float outputs); None when the host cannot run it (see evaluated_as_parent).
        evaluated_as_parent: why the artifact is scored as its parent instead (None when it has an evaluator).
        parent: the (format, quantization) artifact it is made from, when it is derived from another artifact
            instead of from the Keras model.
        acceptance: how a target accepts it, in words (shown by `edgekit targets` docs and refusals).
        requires_delegate: the target delegate without which the device cannot run it (None: any).
        profiler: the runtime that times it on the device.
        optional_on_device: a device without its profiler's runtime gets the other artifacts profiled and this
            one skipped with the reason (not an error).
        tool: an executable the converter runs (None: Python packages only).
        install_hint: what to install when its functions or tool are missing.
    """

    name: Format
    suffix: str
    quantizations: tuple[Quantization, ...]
    converter: str
    evaluator: Optional[str]
    evaluated_as_parent: Optional[str]
    parent: Optional[tuple[Format, Quantization]]
    acceptance: str
    requires_delegate: Optional[str]
    profiler: Profiler
    optional_on_device: bool
    tool: Optional[str]
    install_hint: str

    def artifact_name(self, quantization: Quantization) -> str:
        """The artifact's name in the manifest: `tflite-int8`."""
        return f"{self.name.value}-{quantization.value}"

    def file_name(self, project: str, quantization: Quantization) -> str:
        """The artifact's file name in the export folder: `digits-cnn-int8.tflite`."""
        return f"{project}-{quantization.value}{self.suffix}"


_FORMATS = {
    Format.TFLITE: FormatSpec(
        name=Format.TFLITE,
        suffix=".tflite",
        quantizations=(Quantization.FLOAT32, Quantization.FLOAT16, Quantization.DYNAMIC, Quantization.INT8),
        converter="edgekit.export.tflite:export_tflite",
        evaluator="edgekit.export.runners:TFLiteRunner",
        evaluated_as_parent=None,
        parent=None,
        acceptance="listed in the target's accepts.formats",
        requires_delegate=None,
        profiler=Profiler.LITERT,
        optional_on_device=False,
        tool=None,
        install_hint="pip install tensorflow ai-edge-litert",
    ),
    # No float16 or dynamic-range flavour: tf2onnx emits float32 graphs, and int8 comes as QDQ
    # (QuantizeLinear/DequantizeLinear).
    Format.ONNX: FormatSpec(
        name=Format.ONNX,
        suffix=".onnx",
        quantizations=(Quantization.FLOAT32, Quantization.INT8),
        converter="edgekit.export.onnx:export_onnx",
        evaluator="edgekit.export.runners:OnnxRunner",
        evaluated_as_parent=None,
        parent=None,
        acceptance="listed in the target's accepts.formats",
        requires_delegate=None,
        profiler=Profiler.ONNXRUNTIME,
        # A board without onnxruntime still gets its .tflite profiles; installing onnxruntime is enough later.
        optional_on_device=True,
        tool=None,
        install_hint="pip install tf2onnx onnx onnxruntime",
    ),
    # Edge TPU maps only int8/uint8 tensors; the compiler takes a full-integer .tflite and writes one whose
    # mapped segments are an `edgetpu-custom-op`.
    Format.EDGETPU: FormatSpec(
        name=Format.EDGETPU,
        suffix="_edgetpu.tflite",
        quantizations=(Quantization.INT8,),
        converter="edgekit.export.edgetpu:export_edgetpu",
        evaluator=None,
        evaluated_as_parent=("the host cannot run the edgetpu-custom-op without libedgetpu and an Edge TPU; the "
                             "compiler keeps the int8 model's weights and quantization parameters, so it is scored "
                             "as the tflite-int8 artifact it was compiled from"),
        parent=(Format.TFLITE, Quantization.INT8),
        acceptance=("listed in the target's accepts.formats and run with the edgetpu delegate (libedgetpu); "
                    "compiled at export from the tflite-int8 artifact by edgetpu_compiler"),
        requires_delegate="edgetpu",
        profiler=Profiler.LITERT,
        optional_on_device=False,
        tool="edgetpu_compiler",
        install_hint=("install edgetpu_compiler on an x86_64 Debian/Ubuntu machine from Coral's apt repository "
                      "(`sudo apt-get install edgetpu-compiler`, see coral.ai/docs/edgetpu/compiler)"),
    ),
}

FORMATS: Mapping[Format, FormatSpec] = MappingProxyType(_FORMATS)


def format_spec(name: Format | str) -> FormatSpec:
    """The row of `name` (a Format or its value).

    Raises:
        ConfigError: no such format, with a "did you mean" and the known formats.
    """
    from edgekit.config.yamlsource import did_you_mean

    try:
        return FORMATS[Format(name)]
    except ValueError:
        known = [fmt.value for fmt in Format]
        raise ConfigError(f"unknown format '{name}'{did_you_mean(str(name), known)}; known formats: "
                          f"{', '.join(known)}") from None


def derived_from(fmt: Format, quantization: Quantization) -> list[FormatSpec]:
    """The formats made from the (fmt, quantization) artifact (edgetpu from tflite int8)."""
    return [spec for spec in FORMATS.values() if spec.parent == (fmt, quantization)]


def load_function(reference: str, install_hint: str) -> Any:
    """The object a "module:attribute" reference names, imported now.

    Raises:
        ToolError: its module (or a package it needs) is not installed, with `install_hint`.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ToolError(f"{reference} cannot be imported ({error}): {install_hint}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ToolError(f"{module_name} has no {attribute} (named by edgekit's format table)") from None
