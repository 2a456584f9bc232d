"""Lines the build summary adds when something in the manifest needs the user's attention: a training stage whose
validation accuracy is far below its training accuracy, and which layers QAT left to the int8 converter."""

from __future__ import annotations

from typing import Any, Optional

# A gap this large between the last epoch's training and validation accuracy is not noise, even on a small
# validation split: the model that is evaluated and exported does not do what training measured.
MAX_TRAIN_VAL_GAP = 0.2
TRAINING_STAGES = ("train", "prune", "qat")
SHOWN_NAMES = 3


def train_val_gaps(manifest: dict[str, Any], max_gap: float = MAX_TRAIN_VAL_GAP) -> list[str]:
    """One warning per training stage whose final validation accuracy is more than `max_gap` below its
    training accuracy."""
    warnings = []
    for stage in TRAINING_STAGES:
        history = (manifest.get("history") or {}).get(stage) or {}
        train, val = history.get("accuracy") or [], history.get("val_accuracy") or []
        if not train or not val or train[-1] - val[-1] <= max_gap:
            continue
        warnings.append(
            f"{stage}: training accuracy {train[-1]:.2f} but validation accuracy {val[-1]:.2f}: the model does "
            f"not do on new data what training measured. Causes: too little data or too many epochs "
            f"(overfitting), or BatchNormalization statistics that did not settle in the steps trained (Keras' "
            f"applications keep momentum 0.999; lower it, or train more steps)")
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
    by_class: dict[str, list[str]] = {}
    for layer in calibrated:
        key = f"{layer['class']}, {layer['reason']}"
        by_class.setdefault(key, []).append(layer["name"])
    parts = [f"{key.split(', ')[0]} ×{len(names)} ({', '.join(names[:SHOWN_NAMES])}"
             f"{', …' if len(names) > SHOWN_NAMES else ''}; {key.split(', ', 1)[1]})" for key, names in by_class.items()]
    return (f"{line}; {len(calibrated)} left float during QAT, only calibrated by the int8 converter: "
            + ", ".join(parts))
