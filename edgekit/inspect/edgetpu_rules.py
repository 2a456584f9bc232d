"""Coral's Edge TPU rules as data: the "Supported operations" table (SUPPORTED_OPS) with its "known limitations"
as checks on the flatbuffer, and the model requirements' constants. edgekit.inspect.edgetpu applies them.

Source: "TensorFlow models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from edgekit.inspect.tflite import Operator, Subgraph, Tensor, TfliteModel

# The Edge TPU computes on 8-bit quantized tensors only; a float activation means the op runs on the CPU.
EDGETPU_DTYPES = frozenset({"int8", "uint8"})
# Tensors with more than this many dimensions may only be larger than 1 in the innermost this-many.
MAX_LARGE_DIMENSIONS = 3
# Coral: Softmax "supports only 1-D input tensor with a max of 16,000 elements".
SOFTMAX_MAX_ELEMENTS = 16_000
# Ops whose inputs after the first are model parameters, which must be constant at compile time.
PARAMETER_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})
ESTIMATE_NOTE = ("an estimate from Coral's documented rules: edgetpu_compiler may still keep ops on the CPU (op "
                 "versions it does not know, limits it does not document); its log has the last word")


@dataclass(frozen=True)
class OpContext:
    """The model and subgraph an op belongs to, for the checks."""

    model: TfliteModel
    subgraph: Subgraph

    def tensor(self, index: int) -> Optional[Tensor]:
        return self.subgraph.tensors[index] if index >= 0 else None

    def activations(self, op: Operator) -> list[tuple[str, Tensor]]:
        """(role, tensor) of the op's non-constant inputs and its outputs."""
        found = [("input", tensor) for tensor in map(self.tensor, op.inputs) if tensor and not tensor.is_constant]
        return found + [("output", tensor) for tensor in map(self.tensor, op.outputs) if tensor]

    def constants(self, op: Operator) -> list[Tensor]:
        return [tensor for tensor in map(self.tensor, op.inputs) if tensor and tensor.is_constant]


Check = Callable[[Operator, OpContext], Optional[str]]


@dataclass(frozen=True)
class EdgeTpuOp:
    """A row of Coral's table: checks for the limitations the file shows, a note for those it does not."""

    limits: tuple[Check, ...] = ()
    note: Optional[str] = None


# ---- checks for the "known limitations" column


def option_is(name: str, required: str, complaint: str) -> Check:
    """The op's option `name` must be `required`; `complaint` is formatted with the {value} found and the {op}."""

    def check(op: Operator, ctx: OpContext) -> Optional[str]:
        value = op.options.get(name, required)
        return None if value == required else complaint.format(value=value, op=op.opcode)

    return check


no_fused_activation = option_is("FusedActivationFunction", "NONE",
                                "has a fused {value} activation; Coral allows no fused activation function on {op}")
default_weights_format = option_is("WeightsFormat", "DEFAULT",
                                   "weights format is {value}; Coral supports only the default fully-connected weights "
                                   "format")


def same_dilation(op: Operator, ctx: OpContext) -> Optional[str]:
    height, width = op.options.get("DilationHFactor", 1), op.options.get("DilationWFactor", 1)
    if height != width:
        return f"dilation is {height} in y and {width} in x; Coral requires the same dilation in x and y"
    return None


def one_dimensional_output(op: Operator, ctx: OpContext) -> Optional[str]:
    output = ctx.tensor(op.outputs[0]) if op.outputs else None
    if output is not None and sum(1 for size in output.shape if size > 1) > 1:
        return f"output '{output.name}' has shape {list(output.shape)}; Coral requires a one-dimensional output"
    return None


def no_batch_axis(axis_input: int, data_input: int) -> Check:
    """The op's constant axes (input `axis_input`) must not include the batch dimension of input `data_input`."""

    def check(op: Operator, ctx: OpContext) -> Optional[str]:
        axes_tensor, data = _input(op, ctx, axis_input), _input(op, ctx, data_input)
        if axes_tensor is None or data is None:
            return None
        axes = ctx.model.constant_values(axes_tensor)
        if axes is None:
            return f"its axes ('{axes_tensor.name}') are not a small integer constant, so they cannot be checked"
        rank = max(len(data.shape), 1)
        if any(int(axis) % rank == 0 for axis in axes):
            return f"works along the batch dimension (axes {[int(a) for a in axes]}); Coral: not on the batch dimension"
        return None

    return check


def mean_depth_multiple_of_4(op: Operator, ctx: OpContext) -> Optional[str]:
    axes_tensor, data = _input(op, ctx, 1), _input(op, ctx, 0)
    axes = ctx.model.constant_values(axes_tensor) if axes_tensor else None
    if data is None or axes is None or not data.shape:
        return None
    rank, depth = len(data.shape), data.shape[-1]
    if any(int(axis) % rank == rank - 1 for axis in axes) and depth % 4:
        return f"reduces over a depth of {depth}; Coral requires a z-reduction depth that is a multiple of 4"
    return None


def pack_not_on_batch(op: Operator, ctx: OpContext) -> Optional[str]:
    first = _input(op, ctx, 0)
    rank = (len(first.shape) if first else 0) + 1
    if op.options.get("Axis", 0) % rank == 0:
        return "packs along the batch dimension; Coral: no packing in the batch dimension"
    return None


def pad_not_on_batch(op: Operator, ctx: OpContext) -> Optional[str]:
    paddings_tensor = _input(op, ctx, 1)
    paddings = ctx.model.constant_values(paddings_tensor) if paddings_tensor else None
    if paddings is None:
        return "its paddings are not a constant; Coral pads only along constant x and y sizes"
    if len(paddings) >= 2 and (paddings[0] or paddings[1]):
        return "pads the batch dimension; Coral: no padding in the batch dimension"
    return None


def softmax_one_dimensional(op: Operator, ctx: OpContext) -> Optional[str]:
    data = _input(op, ctx, 0)
    if data is None:
        return None
    if sum(1 for size in data.shape if size > 1) > 1:
        return f"input has shape {list(data.shape)}; Coral's Softmax takes only a 1-D input"
    elements = math.prod(max(size, 1) for size in data.shape)
    if elements > SOFTMAX_MAX_ELEMENTS:
        return f"input has {elements} elements; Coral's Softmax takes at most {SOFTMAX_MAX_ELEMENTS}"
    return None


def strided_slice_unit_strides(op: Operator, ctx: OpContext) -> Optional[str]:
    strides_tensor = _input(op, ctx, 3)
    strides = ctx.model.constant_values(strides_tensor) if strides_tensor else None
    if strides is None or any(int(stride) != 1 for stride in strides):
        return "strides are not all 1; Coral supports StridedSlice only with unit strides"
    if op.options.get("EllipsisMask", 0) or op.options.get("NewAxisMask", 0):
        return "uses an ellipsis or new-axis mask; Coral requires both masks to be 0"
    return None


def concatenation_constants(op: Operator, ctx: OpContext) -> Optional[str]:
    if ctx.constants(op) and len(op.inputs) != 2:
        return ("has a constant input among more than 2; Coral allows a constant only in a 2-input concatenation "
                "(zero padding)")
    return None


def _input(op: Operator, ctx: OpContext, position: int) -> Optional[Tensor]:
    return ctx.tensor(op.inputs[position]) if position < len(op.inputs) else None


_SIZE_NOTE = ("Coral: input/output is a 3-dimensional tensor; depending on the sizes the compiler may keep it on the "
              "CPU to avoid a loss of precision")

# Coral's "Supported operations" table (edgetpu_compiler 16), by TFLite builtin name.
SUPPORTED_OPS: Mapping[str, EdgeTpuOp] = MappingProxyType({
    "ADD": EdgeTpuOp(),
    "AVERAGE_POOL_2D": EdgeTpuOp(limits=(no_fused_activation,)),
    "CONCATENATION": EdgeTpuOp(limits=(no_fused_activation, concatenation_constants),
                               note="Coral: a constant input must be all zeros (a zero-padding op)"),
    "CONV_2D": EdgeTpuOp(limits=(same_dilation,)),
    "DEPTHWISE_CONV_2D": EdgeTpuOp(limits=(same_dilation,)),
    "EXPAND_DIMS": EdgeTpuOp(),
    "FULLY_CONNECTED": EdgeTpuOp(limits=(default_weights_format, one_dimensional_output)),
    "L2_NORMALIZATION": EdgeTpuOp(),
    "LOGISTIC": EdgeTpuOp(),
    # "LSTM: unidirectional LSTM only" (BIDIRECTIONAL_SEQUENCE_LSTM is not in the table).
    "LSTM": EdgeTpuOp(),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": EdgeTpuOp(),
    "MAXIMUM": EdgeTpuOp(),
    "MAX_POOL_2D": EdgeTpuOp(limits=(no_fused_activation,)),
    "MEAN": EdgeTpuOp(limits=(no_batch_axis(1, 0), mean_depth_multiple_of_4)),
    "MINIMUM": EdgeTpuOp(),
    "MUL": EdgeTpuOp(),
    "PACK": EdgeTpuOp(limits=(pack_not_on_batch,)),
    "PAD": EdgeTpuOp(limits=(pad_not_on_batch,)),
    "PRELU": EdgeTpuOp(note="Coral: alpha must be 1-dimensional (Keras PReLU with shared_axes=[1, 2])"),
    "QUANTIZE": EdgeTpuOp(),
    "REDUCE_MAX": EdgeTpuOp(limits=(no_batch_axis(1, 0),)),
    "REDUCE_MIN": EdgeTpuOp(limits=(no_batch_axis(1, 0),)),
    "RELU": EdgeTpuOp(),
    "RELU6": EdgeTpuOp(),
    "RELU_N1_TO_1": EdgeTpuOp(),
    "RESHAPE": EdgeTpuOp(note="Coral: certain reshapes might not be mapped for large tensor sizes"),
    "RESIZE_BILINEAR": EdgeTpuOp(note=_SIZE_NOTE),
    "RESIZE_NEAREST_NEIGHBOR": EdgeTpuOp(note=_SIZE_NOTE),
    "RSQRT": EdgeTpuOp(),
    "SLICE": EdgeTpuOp(),
    "SOFTMAX": EdgeTpuOp(limits=(softmax_one_dimensional,)),
    "SPACE_TO_DEPTH": EdgeTpuOp(),
    "SPLIT": EdgeTpuOp(limits=(no_batch_axis(0, 1),)),
    "SQUEEZE": EdgeTpuOp(note="Coral: only when the squeezed dimensions are leading 1s (no relayout)"),
    "STRIDED_SLICE": EdgeTpuOp(limits=(strided_slice_unit_strides,)),
    "SUB": EdgeTpuOp(),
    "SUM": EdgeTpuOp(limits=(no_batch_axis(1, 0),)),
    "SQUARED_DIFFERENCE": EdgeTpuOp(),
    "TANH": EdgeTpuOp(),
    "TRANSPOSE": EdgeTpuOp(),
    "TRANSPOSE_CONV": EdgeTpuOp(),
})
