"""Keras 3 files: which Keras wrote a .keras or .h5 file, and loading one with Keras 3 itself.

A .keras file is a zip whose metadata.json holds `keras_version`; an .h5 file has a `keras_version`
attribute. Keras 3 finds a custom layer only when code imported before loading registered it, so
before blaming anything else a failed load looks for layers of classes that are not Keras'.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Optional

from edgekit.errors import ModelError
from edgekit.models.keras3 import MODEL_CLASSES, Untranslatable, keras3


def saved_keras_version(path: Path) -> Optional[str]:
    """The Keras version that wrote a .keras or .h5 file (None when the file does not say, or is a folder)."""
    try:
        if path.suffix == ".keras" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if "metadata.json" in archive.namelist():
                    return json.loads(archive.read("metadata.json")).get("keras_version")
        elif path.suffix in (".h5", ".hdf5") and path.is_file():
            import h5py

            with h5py.File(path, "r") as handle:
                version = handle.attrs.get("keras_version")
                return version.decode() if isinstance(version, bytes) else version
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # not readable as such: tf_keras' loader says what is wrong with it
    return None


def is_keras3_version(version: Optional[str]) -> bool:
    """True for "3.x" and later (tf_keras and Keras 2 files say "2.x")."""
    return bool(version) and version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 3


def saved_config(path: Path) -> Optional[dict]:
    """The model config inside a Keras 3 .keras or .h5 file, read without building anything."""
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as handle:
            text = handle.attrs.get("model_config")
            return json.loads(text.decode() if isinstance(text, bytes) else text) if text else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def load_keras3_file(path: Path, version: str):
    """A Keras 3 .keras or .h5 file loaded by Keras 3 itself (without its training configuration).

    Raises:
        Untranslatable: the file holds a layer class Keras 3 cannot find (a custom layer not registered).
        ModelError: Keras 3 cannot load it for another reason.
    """
    config = saved_config(path)
    try:
        return keras3().saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises TypeError, ValueError, KeyError, OSError here
        unknown = _unknown_classes(config) if config else []
        if unknown:
            layer, class_name, module = unknown[0]
            raise Untranslatable(
                f"{path}: written by Keras {version}; layer '{layer}' is of class {class_name} (module {module}), "
                f"which Keras 3 cannot find: it is a custom layer that is not registered (Keras 3 finds one only "
                f"when code imported before loading registers it with keras.saving.register_keras_serializable). "
                f"edgekit rebuilds only standard Keras layers in tf_keras: replace {class_name} with standard "
                f"layers, or build the model with tf_keras (`import tf_keras as keras`); or give a model.factory "
                f"that defines it, with prune and QAT off, to export it through the converters") from None
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        raise ModelError(f"{path}: written by Keras {version}, and Keras 3 cannot load it: "
                         f"{type(error).__name__}: {first_line}") from None


def _unknown_classes(config: dict) -> list[tuple[str, str, str]]:
    """(layer name, class, module) of every layer in a saved config whose class Keras 3 does not know."""
    found = []
    standard = set(dir(keras3().layers)) | set(MODEL_CLASSES)
    for layer in _saved_layers(config):
        module = layer.get("module") or ""
        # .keras files name every class's module; legacy .h5 configs may not, so the class name decides there.
        if (module and not module.startswith("keras")) or (not module and layer.get("class_name") not in standard):
            found.append((layer.get("config", {}).get("name") or layer.get("name", "?"), layer.get("class_name", "?"),
                          module or "unknown"))
    return found


def _saved_layers(entry: dict):
    """Every layer entry of a saved config, nested models' layers included."""
    config = entry.get("config", {})
    for layer in config.get("layers", []) if isinstance(config, dict) else []:
        yield layer
        yield from _saved_layers(layer)
