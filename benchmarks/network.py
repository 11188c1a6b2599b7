"""The problem every contender solves: one network, one batch, handed over as files.

The parent builds the network with minicnn (seeded) and saves it in minicnn's own
format, version 1 (a .npz with the architecture as JSON and the weights),
and the batch as a second .npz. Each contender reads both in its own process and
builds the same network in its framework with a copy of the same weights.
"""
import json
from pathlib import Path

import numpy as np

from .contenders import SEED

INPUT_SHAPE = (1, 28, 28)       # both zoo models read 28x28 greyscale images
NUM_CLASSES = 10


def write_problem(model_name, batch, folder):
    """Save a freshly initialised zoo model and a random batch; return (network path, data path).

    The batch: x (batch, 1, 28, 28) float32 uniform in [0, 1), like pixels; y (batch,) int64
    random labels. Nothing is downloaded: a step costs the same on random pixels.
    """
    import minicnn
    from minicnn.models import MODELS
    minicnn.manual_seed(SEED)
    model = MODELS[model_name](num_classes=NUM_CLASSES)
    folder = Path(folder)
    network = folder / f"{model_name}.npz"
    # Format 1 (the layers as a list): every minicnn reads it, the --baseline checkout's too,
    # which predates format 2.
    header = {"format": "minicnn-sequential-v1", "metadata": {},
              "architecture": [{"type": type(layer).__name__, "config": layer.config()} for layer in model]}
    np.savez(network, __header__=np.array(json.dumps(header)),
             **{name: minicnn.to_numpy(a) for name, a in model.state_dict().items()})
    rng = np.random.default_rng(SEED + batch)
    data = folder / f"{model_name}-batch{batch}.npz"
    np.savez(data, x=rng.random((batch,) + INPUT_SHAPE, dtype=np.float32),
             y=rng.integers(0, NUM_CLASSES, size=batch).astype(np.int64))
    return str(network), str(data)


def model_figures(model_name):
    """Forward FLOPs per image (a multiply-add counts 2), training = 3 x forward, parameters.

    Training counts 3 x forward: the backward pass computes two products per forward
    product (the gradients of the input and of the weights).
    """
    from minicnn.models import MODELS
    rows = MODELS[model_name](num_classes=NUM_CLASSES).summary_rows(INPUT_SHAPE)
    forward = sum(r[3] for r in rows)
    return dict(forward_flops_per_image=forward, training_flops_per_image=3 * forward,
                parameters=sum(r[2] for r in rows))


def read_network(path):
    """(architecture, weights) of a saved minicnn network, with NumPy alone.

    architecture: [{"type": "Conv2d", "config": {...}}, ...], one per layer;
    weights: {"0.weight": array, "0.bias": array, ...} (PyTorch's names and layouts).
    """
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(str(f["__header__"]))
        weights = {k: f[k] for k in f.files if k != "__header__"}
    if "architecture" in header:                       # format 1 (minicnn before format 2)
        return header["architecture"], weights
    return header["model"]["layers"], weights          # format 2: {"type": "Sequential", "layers": [...]}


def read_data(path):
    """(x, y) of a batch written by write_problem."""
    with np.load(path) as f:
        return f["x"], f["y"]
