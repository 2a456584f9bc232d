"""Data: sources, deterministic splits, and the one preprocessing every stage uses."""

from edgekit.data.dataset import Dataset, build_dataset, load_raw, stratified_split
from edgekit.data.preprocessing import Layout, Preprocessing, preprocessing_for

__all__ = ["Dataset", "Layout", "Preprocessing", "build_dataset", "load_raw", "preprocessing_for", "stratified_split"]
