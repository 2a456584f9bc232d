"""Preprocessing, defined once: training, the representative data set, evaluation and the device all use it.

A sample reaches the model as `raw * scale + offset`, in float32, NHWC for images (channels last,
the layout TFLite uses). The manifest records these numbers so an app on the device can repeat them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Optional

import numpy as np


class Layout(str, Enum):
    NHWC = "NHWC"  # images: (height, width, channels)
    FEATURES = "features"  # flat vectors: (features,)


@dataclass(frozen=True)
class Preprocessing:
    """How raw samples become model inputs."""

    scale: float
    offset: float
    layout: Layout
    raw_dtype: str
    # grey images stored as (N, H, W) get a channel axis: (N, H, W, 1)
    add_channel_axis: bool = False
    # images read from files are first resized (bilinear) to (height, width)
    resize: Optional[tuple[int, int]] = None

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Model inputs (float32) from raw samples."""
        x = np.asarray(raw)
        if self.add_channel_axis:
            x = x[..., np.newaxis]
        return (x.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """For the manifest."""
        record = asdict(self)
        record["layout"] = self.layout.value
        record["resize"] = list(self.resize) if self.resize else None
        record["formula"] = ("x = resize_bilinear(rgb8, resize) * scale + offset (float32)" if self.resize
                             else "x = raw * scale + offset (float32)")
        return record


def preprocessing_for(raw: np.ndarray, *, value_range: float | None = None) -> Preprocessing:
    """The preprocessing of a raw array: integers are scaled to [0, 1], floats are taken as they are.

    Args:
        raw: all samples, (N, features), (N, H, W) or (N, H, W, C).
        value_range: the largest raw value when known (16 for scikit-learn's digits); else 255 for
            8-bit integers. Floats keep scale 1: we never guess that a float array needs rescaling.
    """
    if raw.ndim == 2:
        layout, add_channel_axis = Layout.FEATURES, False
    elif raw.ndim == 3:
        layout, add_channel_axis = Layout.NHWC, True
    else:
        layout, add_channel_axis = Layout.NHWC, False
    if value_range is not None:
        scale = 1.0 / value_range
    elif np.issubdtype(raw.dtype, np.integer):
        scale = 1.0 / float(np.iinfo(raw.dtype).max) if raw.dtype.itemsize == 1 else 1.0
    else:
        scale = 1.0
    return Preprocessing(scale=scale, offset=0.0, layout=layout, raw_dtype=raw.dtype.name,
                         add_channel_axis=add_channel_axis)
