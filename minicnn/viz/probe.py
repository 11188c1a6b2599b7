"""Running a model to look inside it: one image, every layer's output, class probabilities.
Notation: N images, C channels, H x W pixels, K classes, D features."""
from contextlib import contextmanager

import numpy as np

from ..backend import to_numpy
from ..data import as_batch
from ..layers import no_grad
from ..train import model_dtype, predict_proba


def image_batch(image, dtype=np.float32):
    """One image, (H, W), (C, H, W) or (1, C, H, W), as a batch (1, C, H, W) of ``dtype`` on the active
    backend; uint8 in 0..255 or floats in [0, 1], as ``minicnn.data.as_batch`` takes them."""
    image = image if hasattr(image, "shape") else np.asarray(image)
    shape = tuple(image.shape)
    if len(shape) == 3:
        image = image[None]                            # (C, H, W) -> (1, C, H, W)
    elif len(shape) not in (2, 4) or (len(shape) == 4 and shape[0] != 1):
        raise ValueError(f"expected one image of shape (H, W), (C, H, W) or (1, C, H, W), received shape {shape}")
    return as_batch(image, dtype)


def layer_index(model, layer):
    """``layer`` as an index 0..len(model) - 1 into ``model.layers``; negative counts from the end."""
    n = len(model.layers)
    if not -n <= int(layer) < n:
        raise ValueError(f"layer index {layer} is out of range for a model of {n} layers")
    return int(layer) % n


@contextmanager
def eval_mode(model):
    """Run ``model`` in eval mode (Dropout off) inside no_grad(), then restore every module's mode."""
    before = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield model
    finally:
        for m, mode in before:
            m.training = mode


def layer_outputs(model, image):
    """Run one image layer by layer: a list of ``len(model)`` NumPy arrays without the batch axis,
    (C, H, W) after convolutions and pooling, (D,) after Flatten and Linear."""
    x = image_batch(image, model_dtype(model))         # (1, C, H, W)
    outputs = []
    with eval_mode(model):
        for i, layer in enumerate(model.layers):
            try:
                x = layer.forward(x)
            except ValueError as e:
                raise ValueError(f"layer {i} ({layer!r}) cannot take the output of the layer before it: {e}") from e
            outputs.append(to_numpy(x)[0])
    return outputs


def layer_activations(model, images, layer, batch_size=500):
    """The output of ``model.layers[layer]`` (negative counts from the end) for many images:
    (N, H, W) or (N, C, H, W) -> (N, D) NumPy array, each output flattened."""
    stop = layer_index(model, layer) + 1
    dtype = model_dtype(model)
    chunks = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = as_batch(images[start:start + batch_size], dtype)          # (B, C, H, W)
            for lay in model.layers[:stop]:
                x = lay.forward(x)
            chunks.append(to_numpy(x).reshape(len(x), -1))  # (B, D)
    return np.concatenate(chunks)


def predict_image(model, image):
    """Class probabilities (K,) for one image."""
    return predict_proba(model, image_batch(image, model_dtype(model)))[0]
