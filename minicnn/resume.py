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

from .output_files import write_atomically

FORMAT = "minicnn-resume-v1"


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
    file; a ValueError naming the file and what is wrong, never a traceback."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"resume file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a usable minicnn resume file: it is not an .npz (zip) "
                         "archive; it was cut short, or is another kind of file")
    try:
        with np.load(path, allow_pickle=False) as f:
            state = json.loads(str(f["__state__"]))
            arrays = {name: f[name] for name in f.files if name != "__state__"}
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"its format is not {FORMAT!r}")
        run, history, groups = state["run"], state["history"], state["optimizer"]
        position = history["position"]
        if not (isinstance(run, dict) and isinstance(position, dict) and isinstance(groups, list)):
            raise ValueError("its run, position or optimizer entry has the wrong type")
        order = arrays.pop("order", None)
        if order is not None and (order.ndim != 1 or order.dtype != np.int64):
            raise ValueError(f"its order is {order.dtype} of shape {order.shape}, expected int64 (N,)")
        position["order"] = order
        buffers = {}
        for name, a in arrays.items():
            kind, _, index = name.partition(".")
            if kind != "momentum_buffer" or not index.isdigit() or a.dtype.kind != "f":
                raise ValueError(f"it holds an unexpected array {name!r} ({a.dtype})")
            if not np.isfinite(a).all():
                raise ValueError(f"its {name} holds NaN or infinite values")
            buffers[int(index)] = {"momentum_buffer": a}
        run["steps"] = state["steps"]
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError, ValueError) as e:   # JSON's errors too
        raise ValueError(f"{path} is not a usable minicnn resume file: {e}") from None
    return run, history, {"state": buffers, "param_groups": groups}
