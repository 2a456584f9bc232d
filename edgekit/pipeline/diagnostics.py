"""Lines the build summary adds when something in the manifest needs the user's attention: a training stage whose
validation accuracy is far below its training accuracy, and which layers QAT left to the int8 converter."""

from __future__ import annotations

from typing import Any, Optional

# A gap this large between the last epoch's training and validation accuracy is not noise, even on a small
# validation split: the model that is evaluated and exported does not do what training measured.
MAX_TRAIN_VAL_GAP = 0.2
TRAINING_STAGES = ("train", "prune", "qat")
# The artifact that is a training stage's model, as the build evaluated it.
EVALUATED_MODEL = {"train": "keras-dense", "prune": "keras-pruned"}
SHOWN_NAMES = 3


def train_val_gaps(manifest: dict[str, Any], max_gap: float = MAX_TRAIN_VAL_GAP) -> list[str]:
    """One warning per training stage whose model does more than `max_gap` worse on held-out data than its
    final training accuracy.

    The held-out accuracy is that of the stage's saved model on the test split where the build evaluated it
    (keras-dense, keras-pruned: after their BatchNorm statistics were re-estimated), else the last epoch's
    validation accuracy.
    """
    warnings = []
    evaluated = {entry["name"]: entry.get("accuracy") for entry in manifest.get("artifacts") or []}
    for stage in TRAINING_STAGES:
        history = (manifest.get("history") or {}).get(stage) or {}
        train = history.get("accuracy") or []
        held_out = evaluated.get(EVALUATED_MODEL.get(stage, ""))
        what = f"test accuracy {held_out:.2f} ({EVALUATED_MODEL[stage]})" if held_out is not None else None
        if held_out is None and history.get("val_accuracy"):
            held_out = history["val_accuracy"][-1]
            what = f"validation accuracy {held_out:.2f}"
        if not train or held_out is None or train[-1] - held_out <= max_gap:
            continue
        warnings.append(
            f"{stage}: training accuracy {train[-1]:.2f} but {what}: the model does not do on new data what "
            f"training measured. Causes: too little data or too many epochs (overfitting), or BatchNormalization "
            f"statistics that did not settle in the steps trained (Keras' applications keep momentum 0.999; "
            f"lower it, or train more steps)")
    return warnings


def qat_layers_line(manifest: dict[str, Any]) -> Optional[str]:
    """'QAT: 150 layers trained quantization-aware; 3 only calibrated by the int8 converter: ...' (None without QAT)."""
    qat = manifest.get("qat")
    if not qat:
        return None
    trained, calibrated = qat["quantization_aware"], qat["calibrated_only"]
    line = f"{qat['scheme'].upper()}: {len(trained)} layers trained quantization-aware"
    if not calibrated:
        return line + ", none left float"
    by_kind: dict[tuple[str, str], list[str]] = {}
    for layer in calibrated:
        by_kind.setdefault((layer["class"], layer["reason"]), []).append(layer["name"])
    parts = []
    for (cls, reason), names in by_kind.items():
        listed = ", ".join(names[:SHOWN_NAMES]) + (", …" if len(names) > SHOWN_NAMES else "")
        parts.append(f"{cls} ×{len(names)} ({listed}; {reason})")
    return (f"{line}; {len(calibrated)} left float during QAT, only calibrated by the int8 converter: "
            + ", ".join(parts))
