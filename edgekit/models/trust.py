"""Model files that would run code when loaded: found by reading their stored configuration, before loading.

A Keras Lambda layer stores its Python function as marshalled bytecode (or names one to look up). Loading the
file rebuilds the model, which calls the function: whoever wrote the file runs code on this machine. Keras'
`safe_mode` refuses this only for `.keras` archives; a `.h5` file or a SavedModel folder runs it without a word.
So every format is read here first, as data only (JSON inside HDF5, a zip or a protobuf), and a file with such
a layer is refused unless the configuration says `model.trust_code: true`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from edgekit.errors import ModelError

# Layers whose configuration carries a Python function that Keras deserializes (bytecode, or a name to look up).
CODE_LAYERS = ("Lambda",)


class UntrustedModelCode(ModelError):
    """A model file holds Python code that loading it would run, and model.trust_code is not set."""


def refuse_code(path: Path) -> None:
    """Raise when loading the model file at `path` would run Python code stored in it.

    Raises:
        UntrustedModelCode: naming the layers that carry code.
        ModelError: the file's stored configuration cannot be read.
    """
    layers = code_layers(path)
    if layers:
        shown = ", ".join(layers[:5]) + (f" and {len(layers) - 5} more" if len(layers) > 5 else "")
        raise UntrustedModelCode(
            f"{path}: not loaded: it holds Python code that loading it would run ({shown}); a model file can carry "
            f"any program this way. If you made this file or trust who did, set model.trust_code: true in "
            f"edgekit.yaml (or rebuild the model with model.factory, in code you can read)")


def code_layers(path: Path) -> list[str]:
    """'Lambda layer 'name'' for every layer of the stored model configuration that carries Python code."""
    found: dict[str, None] = {}  # a SavedModel records a layer in its model's config and again on its own
    for config in _stored_configs(path):
        found.update((f"{node['class_name']} layer '{_layer_name(node)}'", None) for node in _walk(config)
                     if node.get("class_name") in CODE_LAYERS)
    return list(found)


def _stored_configs(path: Path) -> list[Any]:
    if path.is_dir():
        return _saved_model_configs(path)
    if path.suffix == ".keras":
        return [_keras_archive_config(path)]
    return _h5_configs(path)


def _keras_archive_config(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ModelError(f"{path}: not a readable .keras archive ({type(error).__name__}: {error})") from None


def _h5_configs(path: Path) -> list[Any]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            text = handle.attrs.get("model_config")
    except OSError as error:
        raise ModelError(f"{path}: not a readable HDF5 model file ({error})") from None
    if text is None:
        return []  # weights only: loading fails later with its own message, and runs nothing
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        return [json.loads(text)]
    except ValueError as error:
        raise ModelError(f"{path}: its stored model configuration is not JSON ({error})") from None


def _saved_model_configs(path: Path) -> list[Any]:
    metadata = path / "keras_metadata.pb"
    if not metadata.is_file():
        return []  # no Keras metadata: loading refuses it ("without Keras metadata") before rebuilding any layer
    from edgekit._tf import keras

    keras()
    from tf_keras.protobuf import saved_metadata_pb2

    proto = saved_metadata_pb2.SavedMetadata()
    try:
        proto.ParseFromString(metadata.read_bytes())
    except Exception as error:  # protobuf's DecodeError
        raise ModelError(f"{path}: keras_metadata.pb is not readable ({type(error).__name__})") from None
    configs = []
    for node in proto.nodes:
        try:
            configs.append(json.loads(node.metadata))
        except ValueError:
            raise ModelError(f"{path}: keras_metadata.pb holds a record that is not JSON") from None
    return configs


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside `value` (a layer's config can nest whole models: Sequential in Functional)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _layer_name(node: dict[str, Any]) -> str:
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return str(name or node.get("name") or "?")
