"""Which ops of a .tflite model the Edge TPU could run, estimated from the flatbuffer alone (no edgetpu_compiler).

The rules are Coral's, from "TensorFlow models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro):
- "Model requirements": tensors are quantized to 8 bits (int8/uint8); tensor sizes are constant at compile time;
  model parameters (weights, biases) are constant at compile time; tensors have 1, 2 or 3 dimensions, and a tensor
  with more than 3 only lets its 3 innermost dimensions be larger than 1; only the operations in the table run.
- "Supported operations": the table below (SUPPORTED_OPS), with the "known limitations" column as checks where the
  file shows them, and as notes where it does not (sizes that the compiler judges for precision, say).
- The compiler partitions the graph once: the first op the Edge TPU cannot run ends the Edge TPU segment, and it
  and every op after it run on the CPU, supported or not. Ops before the first supported op (a float QUANTIZE at
  the input) run on the CPU and the segment starts after them.

This is an estimate: edgetpu_compiler also refuses op versions newer than it knows ("Operation version not
supported") and sometimes keeps an op on the CPU "due to some unspecified limitation". Its log has the last word;
edgekit parses it when the compiler is installed (edgekit.export.edgetpu).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from edgekit.inspect.tflite import EDGETPU_CUSTOM_OP, FLOAT_DTYPES, Operator, Subgraph, Tensor, TfliteModel

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


class Placement(str, Enum):
    EDGETPU = "edgetpu"
    CPU = "cpu"


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


# ---- the analysis


@dataclass
class OpMapping:
    """Where one op of subgraph 0 would run, and why."""

    index: int
    op: str
    version: int
    supported: bool  # the Edge TPU could run this op, taken alone
    placement: Placement = Placement.CPU
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        record = asdict(self)
        record["placement"] = self.placement.value
        return record


@dataclass
class EdgeTpuMapping:
    """The estimate for a whole model."""

    compiled: bool
    operators: list[OpMapping]
    segment_start: Optional[int]
    segment_end: Optional[int]  # exclusive: the index of the op that ended the segment, or the op count
    ended_by: Optional[OpMapping]
    other_subgraph_ops: int
    notes: list[str]

    @property
    def ops_on_edgetpu(self) -> int:
        return sum(1 for op in self.operators if op.placement is Placement.EDGETPU)

    @property
    def ops_on_cpu(self) -> int:
        return len(self.operators) - self.ops_on_edgetpu + self.other_subgraph_ops

    def to_json(self) -> dict:
        return {
            "compiled": self.compiled,
            "ops_on_edgetpu": self.ops_on_edgetpu,
            "ops_on_cpu": self.ops_on_cpu,
            "segment": None if self.segment_start is None else {
                "start": self.segment_start, "end": self.segment_end,
                "ended_by": None if self.ended_by is None else {
                    "index": self.ended_by.index, "op": self.ended_by.op, "reasons": self.ended_by.reasons}},
            "operators": [op.to_json() for op in self.operators],
            "notes": self.notes,
            "estimate": ESTIMATE_NOTE,
        }


def map_to_edgetpu(model: TfliteModel) -> EdgeTpuMapping:
    """Estimate which ops of `model`'s main subgraph the Edge TPU runs and which stay on the CPU."""
    ctx = OpContext(model, model.main)
    other_ops = sum(len(subgraph.operators) for subgraph in model.subgraphs[1:])
    notes = _model_notes(model, other_ops)
    if any(op.custom and op.opcode == EDGETPU_CUSTOM_OP for op in model.main.operators):
        return _compiled_mapping(model, other_ops, notes)
    operators = [_judge(op, ctx) for op in model.main.operators]
    start = next((op.index for op in operators if op.supported), None)
    end = ended_by = None
    if start is not None:
        ended_by = next((op for op in operators[start:] if not op.supported), None)
        end = ended_by.index if ended_by else len(operators)
        for op in operators:
            if start <= op.index < end:
                op.placement = Placement.EDGETPU
            elif op.index > end and op.supported:
                op.reasons.append(f"after the end of the Edge TPU segment (op {end}, {ended_by.op}): the compiler "
                                  f"partitions the graph only once")
    return EdgeTpuMapping(compiled=False, operators=operators, segment_start=start, segment_end=end,
                          ended_by=ended_by, other_subgraph_ops=other_ops, notes=notes)


def _judge(op: Operator, ctx: OpContext) -> OpMapping:
    mapping = OpMapping(index=op.index, op=op.opcode, version=op.version, supported=False)
    if op.custom:
        mapping.reasons.append(f"custom op '{op.opcode}': the Edge TPU runs only builtin ops from Coral's table")
        return mapping
    row = SUPPORTED_OPS.get(op.opcode)
    if row is None:
        mapping.reasons.append(f"{op.opcode} is not in Coral's list of Edge TPU operations")
        return mapping
    mapping.reasons.extend(_tensor_reasons(op, ctx))
    mapping.reasons.extend(reason for reason in (check(op, ctx) for check in row.limits) if reason)
    if row.note:
        mapping.notes.append(row.note)
    mapping.supported = not mapping.reasons
    return mapping


def _tensor_reasons(op: Operator, ctx: OpContext) -> list[str]:
    """The model requirements every op must meet: 8-bit tensors, constant parameters, static sizes, the rank rule."""
    reasons = []
    for role, tensor in ctx.activations(op):
        if tensor.dtype not in EDGETPU_DTYPES:
            reasons.append(f"{role} '{tensor.name}' is {tensor.dtype}; the Edge TPU computes only on int8/uint8 "
                           f"tensors")
        late = [position for position in tensor.dynamic_dimensions if position > 0]
        if late:
            reasons.append(f"{role} '{tensor.name}' has a dynamic size in dimension {late[0]} (shape signature "
                           f"{list(tensor.shape_signature or ())}); the Edge TPU needs sizes fixed at compile time")
        if len(tensor.shape) > MAX_LARGE_DIMENSIONS and any(size > 1 for size in tensor.shape[:-MAX_LARGE_DIMENSIONS]):
            reasons.append(f"{role} '{tensor.name}' has shape {list(tensor.shape)}; with more than "
                           f"{MAX_LARGE_DIMENSIONS} dimensions only the {MAX_LARGE_DIMENSIONS} innermost may be "
                           f"larger than 1")
    for tensor in ctx.constants(op):
        if tensor.dtype in FLOAT_DTYPES:
            reasons.append(f"constant '{tensor.name}' is {tensor.dtype}; weights must be quantized to 8 bits")
    if op.opcode in PARAMETER_OPS:
        for tensor in map(ctx.tensor, op.inputs[1:]):
            if tensor is not None and not tensor.is_constant:
                reasons.append(f"parameter '{tensor.name}' is computed at run time; weights and biases must be "
                               f"constant at compile time")
    return reasons


def _compiled_mapping(model: TfliteModel, other_ops: int, notes: list[str]) -> EdgeTpuMapping:
    """A model edgetpu_compiler already compiled: its custom op runs on the Edge TPU, what it left runs on the CPU."""
    operators = []
    for op in model.main.operators:
        on_tpu = op.custom and op.opcode == EDGETPU_CUSTOM_OP
        mapping = OpMapping(index=op.index, op=op.opcode, version=op.version, supported=on_tpu,
                            placement=Placement.EDGETPU if on_tpu else Placement.CPU)
        (mapping.notes if on_tpu else mapping.reasons).append(
            "compiled for the Edge TPU by edgetpu_compiler" if on_tpu else "left on the CPU by edgetpu_compiler")
        operators.append(mapping)
    notes = ["already compiled: each edgetpu-custom-op holds a segment the compiler mapped"] + notes
    return EdgeTpuMapping(compiled=True, operators=operators, segment_start=None, segment_end=None, ended_by=None,
                          other_subgraph_ops=other_ops, notes=notes)


def _model_notes(model: TfliteModel, other_ops: int) -> list[str]:
    notes = []
    for index in model.main.inputs:
        tensor = model.main.tensors[index]
        if tensor.dynamic_dimensions == (0,):
            notes.append(f"input '{tensor.name}' has a dynamic batch size (shape signature "
                         f"{list(tensor.shape_signature or ())}); the estimate takes the stored batch size "
                         f"{tensor.shape[0] if tensor.shape else 1}; a fixed batch size at conversion "
                         f"(keras Input(batch_size=1)) leaves the compiler no doubt")
    if other_ops:
        notes.append(f"{other_ops} ops in {len(model.subgraphs) - 1} control-flow subgraph(s) run on the CPU")
    return notes
