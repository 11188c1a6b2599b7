"""The file a stopped ``minicnn train`` run continues from: ``runs/x.npz`` has ``runs/x.resume.npz``, holding what
the next step needs beyond the weights, read with ``np.load(allow_pickle=False)`` (nothing in it can run code):

    __state__            JSON: format, run settings, data fingerprint, ``History.state_dict()``, SGD hyperparameters
    order                int64 (N,): the current epoch's order of training images (absent between epochs)
    momentum_buffer.<i>  SGD's momentum for parameter i, shaped like it

Both record the steps taken and the resume file is written first, so a mismatched pair left by a crash is refused."""
import json
import os
import zipfile

import numpy as np

from . import checkpoint
from .output_files import write_atomically

FORMAT = "minicnn-resume-v1"
MAX_STATE_BYTES = 1 << 30                     # History's JSON, stored as UTF-32, grows ~80 bytes a training step


def resume_path(model_path):
    """``runs/x.resume.npz`` for ``runs/x.npz`` (any other name gets ``.resume.npz`` added)."""
    return os.fspath(model_path).removesuffix(".npz") + ".resume.npz"


def save(path, run, history, optimizer):
    """Write, atomically, the resume file ``path`` of a run: its settings ``run`` (a JSON dict), History, SGD."""
    history_state = history.state_dict()
    order = history_state["position"]["order"]
    history_state["position"] = {k: v for k, v in history_state["position"].items() if k != "order"}
    optimizer_state = optimizer.state_dict()
    state = dict(format=FORMAT, run=run, steps=history.steps, history=history_state,
                 optimizer=optimizer_state["param_groups"])
    arrays = {f"momentum_buffer.{i}": np.asarray(entry["momentum_buffer"])
              for i, entry in optimizer_state["state"].items()}
    if order is not None:
        arrays["order"] = np.asarray(order, dtype=np.int64)
    arrays["__state__"] = np.array(json.dumps(state))
    return write_atomically(path, lambda f: np.savez(f, **arrays), verify=read)


def read(path):
    """(run settings, History state for ``fit(resume=...)``, SGD state for ``load_state_dict``) from a resume
    file; one ValueError naming it and what is wrong. Like a checkpoint, it is checked before any array is read."""
    state, arrays = checkpoint.inventory(path, "__state__", "resume", "is not a usable minicnn resume file "
                                         "(truncated, foreign or pickled files are refused)", MAX_STATE_BYTES)
    try:
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"its format is not {FORMAT!r}")
        run, position, groups = state["run"], state["history"]["position"], state["optimizer"]
        if not (isinstance(run, dict) and isinstance(position, dict) and isinstance(groups, list)):
            raise ValueError("its run, position or optimizer entry has the wrong type")
        for name, (shape, dtype, _) in arrays.items():
            kind, _, index = name.partition(".")
            if name == "order" and (len(shape) != 1 or dtype != np.int64):
                raise ValueError(f"its order is {dtype} of shape {shape}, expected int64 (N,)")
            if name != "order" and (kind != "momentum_buffer" or not index.isdigit() or dtype.kind != "f"):
                raise ValueError(f"it holds an unexpected array {name!r} ({dtype})")
        with zipfile.ZipFile(path) as z:              # every array is expected and its size known: now read them
            for name, (_, _, member) in arrays.items():
                with z.open(member) as f:
                    arrays[name] = np.load(f, allow_pickle=False)
                if not np.isfinite(arrays[name]).all():
                    raise ValueError(f"its {name} holds NaN or infinite values")
        position["order"] = arrays.pop("order", None)
        buffers = {int(name.partition(".")[2]): {"momentum_buffer": a} for name, a in arrays.items()}
        run["steps"] = state["steps"]
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is not a usable minicnn resume file: {e}") from None
    return run, state["history"], {"state": buffers, "param_groups": groups}
