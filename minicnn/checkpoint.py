"""Saving and loading a Sequential: architecture, weights and metadata in one .npz file.

The file holds one array per parameter under its PyTorch name ("0.weight", ...)
and a JSON header (format, layer types with their constructor arguments,
metadata). Nothing is pickled, so loading a file cannot run code.
"""
import json
import os
import zipfile

import numpy as np

from .backend import to_numpy
from .layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .output_files import write_atomically

LAYER_TYPES = {cls.__name__: cls for cls in
               (Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear, LogSoftmax, Dropout)}
FORMAT = "minicnn-sequential-v1"


def architecture(model):
    """[{"type": "Conv2d", "config": {...}}, ...]: what rebuilds the model's layers."""
    return [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers]


def save(model, path, metadata=None, overwrite=True):
    """Write ``model`` to ``path`` (.npz), atomically; return the path written.

    The file is written next to ``path`` under a temporary name, read back and
    checked, and only then renamed over ``path``: a crash never leaves half a file.
    Only a regular file is written (a symlink is written through to its target);
    ``overwrite=False`` refuses to replace an existing file (output_files.py).
    """
    for i, layer in enumerate(model.layers):
        if type(layer).__name__ not in LAYER_TYPES:
            raise ValueError(f"cannot save layer {i} ({type(layer).__name__}): only minicnn's "
                             f"built-in layers can be saved ({', '.join(LAYER_TYPES)})")
    meta = dict(model.metadata)
    meta.update(metadata or {})
    for key, value in meta.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValueError(f"cannot save metadata {key!r}: its value ({type(value).__name__}) "
                             "is not JSON (use lists, numbers, strings, dicts)") from None
    header = {"format": FORMAT, "architecture": architecture(model), "metadata": meta}
    arrays = {name: to_numpy(a) for name, a in model.state_dict().items()}
    arrays["__header__"] = np.array(json.dumps(header))

    def verify(tmp):                                  # read back before it replaces anything
        _, state = read(tmp)
        if set(state) != set(arrays) - {"__header__"}:
            raise OSError(f"checkpoint {tmp} did not read back correctly")

    written = write_atomically(path, lambda f: np.savez(f, **arrays), verify, overwrite)
    model.metadata = meta
    return written


def load(path):
    """Rebuild the Sequential saved in ``path`` (architecture, weights, metadata)."""
    from .sequential import Sequential

    header, state = read(path)
    layers = []
    for i, spec in enumerate(header["architecture"]):
        layer_cls = LAYER_TYPES.get(spec.get("type"))
        if layer_cls is None:
            raise ValueError(f"{path}: layer {i} has unknown type {spec.get('type')!r}")
        try:
            layers.append(layer_cls(**spec.get("config", {})))
        except TypeError as e:
            raise ValueError(f"{path}: layer {i} ({spec['type']}) has a bad config: {e}") from e
    model = Sequential(*layers)
    for name, p in model.named_parameters():  # keep the saved dtype (float64 stays float64)
        if name in state and state[name].dtype.kind == "f":
            p.data = p.data.astype(state[name].dtype)
    try:
        model.load_state_dict(state)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    model.metadata = header.get("metadata", {})
    return model


def read(path):
    """(header, {name: numpy array}) from a file written by ``save``; never unpickles."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a .npz archive")
        with f:
            if "__header__" not in f.files:
                raise ValueError("it has no minicnn header")
            header = json.loads(str(f["__header__"]))
            state = {k: f[k] for k in f.files if k != "__header__"}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable minicnn checkpoint (truncated, foreign or "
                         f"pickled files are refused): {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a minicnn checkpoint (format {header.get('format')!r}, "
                         f"expected {FORMAT!r})" if isinstance(header, dict) else
                         f"{path} is not a minicnn checkpoint")
    return header, state
