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

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Optional

from edgekit.inspect.tflite import EDGETPU_CUSTOM_OP, FLOAT_DTYPES, Operator, TfliteModel
# The rules (Coral's table and its limitations) are in edgetpu_rules.
from edgekit.inspect.edgetpu_rules import (EDGETPU_DTYPES, ESTIMATE_NOTE, MAX_LARGE_DIMENSIONS, PARAMETER_OPS,
                                           SUPPORTED_OPS, OpContext)


class Placement(str, Enum):
    EDGETPU = "edgetpu"
    CPU = "cpu"


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
