"""Saving and loading a network: architecture, weights, buffers and metadata in one .npz file.

A zip archive of .npy arrays, one per parameter or buffer under its PyTorch name ("0.weight", ...), and
``__header__``, a JSON string. Nothing is pickled, so loading cannot run code, and nothing the file says is trusted:
header, sizes, shapes and dtypes are checked before anything is built or read (docs/checkpoint-format.md, in order).
"""
import json
import math
import os
import stat
import zipfile

import numpy as np

from .backend import asarray, to_numpy
from .layers import module as _module
from .layers.registry import LAYERS
from .output_files import write_atomically

FORMAT, VERSION = "minicnn-checkpoint", 2
OLD_FORMAT = "minicnn-sequential-v1"          # files written before format 2: still loaded
MAX_HEADER_BYTES = 1 << 20                    # a header is a few kB; 1 MiB is generous
MAX_ARRAYS = 10_000
MAX_TOTAL_BYTES = 4 << 30                     # all arrays together, once inflated
MAX_INFLATION = 64                            # np.savez stores arrays uncompressed (ratio 1)
MAX_DEPTH = 32                                # Sequentials inside Sequentials


def architecture(model, name="the model"):
    """{"type": "Sequential", "layers": [...]} or {"type": name, "config": {...}}: what rebuilds ``model``."""
    kind = type(model).__name__
    entry = LAYERS.get(kind)
    if entry is None or entry.cls is not type(model):
        raise ValueError(f"cannot save {name} ({kind}): it is not a registered layer; decorate its class "
                         "with @minicnn.register_layer and give it a config() (docs/adding-a-layer.md)")
    if kind == "Sequential":
        prefix = "layer " if name == "the model" else f"{name}."
        return {"type": kind, "layers": [architecture(layer, f"{prefix}{i}") for i, layer in enumerate(model.layers)]}
    return {"type": kind, "config": model.config()}


def save(model, path, metadata=None, overwrite=True):
    """Write ``model`` to ``path`` (.npz); return the path written. It is read back before it replaces anything
    (output_files.write_atomically: a crash never leaves half a file; ``overwrite=False`` refuses an existing one)."""
    from . import __version__
    meta = dict(getattr(model, "metadata", {}))
    meta.update(metadata or {})
    for key, value in meta.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(f"cannot save metadata {key!r}: its value ({type(value).__name__}) "
                             "is not JSON (use lists, numbers, strings, dicts)") from None
    header = {"format": FORMAT, "version": VERSION, "minicnn_version": __version__,
              "model": architecture(model), "metadata": meta}
    arrays = {name: to_numpy(a) for name, a in model.state_dict().items()}
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"cannot save {name!r}: it holds NaN or infinite values (training diverged?)")
    arrays["__header__"] = np.array(json.dumps(header))
    def verify(tmp):
        if set(read(tmp)[1]) != set(arrays) - {"__header__"}:
            raise OSError(f"checkpoint {tmp} did not read back correctly")
    written = write_atomically(path, lambda f: np.savez(f, **arrays), verify, overwrite)
    if hasattr(model, "metadata"):
        model.metadata = meta
    return written


def load(path):
    """Rebuild the network saved in ``path``; a malformed file gives one ValueError naming it and what is wrong."""
    path = os.fspath(path)
    header, arrays = read(path)
    model, where = _build(header, path)
    expected = model.state_dict()                     # placeholders: their shapes and dtypes only
    missing, unexpected = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path}: the stored arrays do not match the architecture{where}: "
                         f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
    for name, have in expected.items():
        shape, dtype = arrays[name][:2]
        if shape != tuple(have.shape):
            raise ValueError(f"{path}: array {name!r} has shape {shape}, but the architecture{where} "
                             f"needs {tuple(have.shape)}")
        if dtype.kind != have.dtype.kind or dtype.kind == "f" and dtype.name not in ("float32", "float64"):
            raise ValueError(f"{path}: array {name!r} is {dtype}, but the architecture{where} needs "
                             f"{'float32 or float64' if have.dtype.kind == 'f' else have.dtype}")
    floats = {arrays[name][1].name for name in expected if arrays[name][1].kind == "f"}
    if len(floats) > 1:
        raise ValueError(f"{path}: the weights mix {' and '.join(sorted(floats))}; a model computes in one of them")
    try:                                              # sizes are known and bounded: now read them
        with zipfile.ZipFile(path) as z:
            state = {}
            for name, (_, _, member) in arrays.items():
                with z.open(member) as f:
                    state[name] = np.load(f, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path} is not a readable minicnn checkpoint (an array is damaged): {e}") from None
    for name, value in state.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{path}: array {name!r} holds NaN or infinite values; a trained model has none")
    for name, m, k in model._tensors():               # the saved dtype stays (float64 stays float64)
        _module._assign(m, k, asarray(state[name]))
    model.metadata = header["metadata"]
    return model


def read(path):
    """(header, {name: (shape, dtype, member)}) of a checkpoint, checked; no array is read yet."""
    header, arrays = inventory(path, "__header__", "checkpoint", "is not a readable minicnn checkpoint "
                               "(truncated, foreign or pickled files are refused)", MAX_HEADER_BYTES)
    return _check_header(header, path), arrays


def inventory(path, header, kind, refused, max_header):
    """(JSON of the string array ``header``, {name: (shape, dtype, member)} of the others) of an .npz file, checked
    from its zip directory and .npy headers before anything is allocated; ``kind`` and ``refused`` word a refusal."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{kind} file {path} does not exist")
    if not stat.S_ISREG(os.stat(path).st_mode):               # a FIFO would hang, a device never end
        raise ValueError(f"{path} is not a regular file, so not a minicnn {kind}")
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ARRAYS:
                raise ValueError(f"it holds {len(infos)} arrays, more than the {MAX_ARRAYS} allowed")
            total = sum(i.file_size for i in infos)
            if total > MAX_TOTAL_BYTES or total > MAX_INFLATION * size + MAX_HEADER_BYTES:
                raise ValueError(f"its arrays would inflate to {total:,} bytes from a {size:,}-byte file")
            members = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy")}
            if len(members) != len(infos):
                raise ValueError("it holds files that are not .npy arrays")
            if header not in members:
                raise ValueError("it has no minicnn header")
            if members[header].file_size > max_header:
                raise ValueError(f"its header is {members[header].file_size:,} bytes, more than {max_header:,}")
            arrays = {}
            for name, info in members.items():        # np.load allocates what a .npy header declares: check it
                with z.open(info) as f:
                    shape, dtype, offset = _npy_header(f)
                if name != header and (dtype.kind not in "fiu" or dtype.itemsize > 8):
                    raise ValueError(f"array {name!r} is {dtype}; weights are real floats, counters integers")
                if offset + math.prod(shape) * dtype.itemsize != info.file_size:
                    raise ValueError(f"array {name!r} declares shape {shape} of {dtype}, which does not "
                                     f"fit its {info.file_size:,} bytes")
                arrays[name] = (shape, dtype, info.filename)
            shape, dtype, member = arrays.pop(header)
            if dtype.kind != "U" or shape != ():
                raise ValueError("its header is not a JSON string")
            with z.open(member) as f:
                value = json.loads(str(np.load(f, allow_pickle=False)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, json.JSONDecodeError, RecursionError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} {refused}: {e}") from None
    return value, arrays


def _npy_header(f):
    """(shape, dtype, bytes before the data) from an open .npy member, reading only its header."""
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unknown .npy version {version}")
    read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(f, max_header_size=10_000)
    if fortran or dtype.hasobject or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError("an array is stored in a layout minicnn does not write")
    return tuple(shape), dtype, f.tell()


def _check_header(header, path):
    """The header, in the current format, or one sentence on the first field that is wrong."""
    def bad(field, why):
        return ValueError(f"{path}: header field {field} {why}")
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a minicnn checkpoint (its header is not a JSON object)")
    if header.get("format") == OLD_FORMAT:            # format 1: a Sequential's layers, as a list
        header = {"format": FORMAT, "version": 1, "metadata": header.get("metadata", {}),
                  "model": {"type": "Sequential", "layers": header.get("architecture")}}
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a minicnn checkpoint (format {header.get('format')!r}, expected {FORMAT!r})")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise bad("'version'", f"is {header.get('version')!r}: this minicnn reads versions 1 to {VERSION}; "
                  "a newer minicnn wrote it")
    if not isinstance(header.get("metadata", {}), dict):
        raise bad("'metadata'", "must be a JSON object")
    header.setdefault("metadata", {})
    def check(spec, field, depth):
        if depth > MAX_DEPTH:
            raise bad(field, f"nests more than {MAX_DEPTH} Sequentials")
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise bad(field, "must be an object with a 'type'")
        if spec["type"] not in LAYERS:
            raise bad(f"{field}.type", f"names {spec['type']!r}, which is not a registered layer "
                      f"(known: {', '.join(sorted(LAYERS))})")
        if spec["type"] == "Sequential":
            if not isinstance(spec.get("layers"), list):
                raise bad(f"{field}.layers", "must be a list")
            for i, layer in enumerate(spec["layers"]):
                check(layer, f"{field}.layers[{i}]", depth + 1)
        elif not isinstance(spec.get("config", {}), dict):      # an object's keys are strings in JSON
            raise bad(f"{field}.config", "must be an object of named arguments")
    check(header.get("model"), "model", 0)
    return header


def _build(header, path):
    """The model the header describes, its weights not yet drawn (init_uniform is deferred)."""
    def build(spec, field):
        entry = LAYERS[spec["type"]]
        if spec["type"] == "Sequential":
            return entry.cls(*[build(s, f"{field}.layers[{i}]") for i, s in enumerate(spec["layers"])])
        try:
            return entry.cls(**spec.get("config", {}))
        except Exception as e:                        # noqa: BLE001 - any refusal is a bad file
            raise ValueError(f"{path}: header field {field} ({spec['type']}) has a bad config: "
                             f"{type(e).__name__}: {e}") from None
    with _module.deferred_init():
        return build(header["model"], "model"), f" ({header['model']['type']})"
