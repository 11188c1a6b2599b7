"""From stored images to training batches: ``as_batch`` and ``DataLoader``. Datasets stay compact uint8
arrays (MNIST's 60,000 images: 47 MB, 188 MB as float32); each batch is converted on its own, on the
active backend, so the whole set never exists as floats and only uint8 bytes cross to the GPU.
"""
import math

import numpy as np

from ..backend import asarray, cpu_rng, get_array_module


def as_batch(images, dtype=np.float32):
    """Images as a batch of ``dtype`` in [0, 1] on the active backend: (N, 1, H, W) for (N, H, W) or one (H, W)
    image, (N, C, H, W) for (N, C, H, W). images: NumPy or CuPy, integers in 0..255 or floats in [0, 1]."""
    if not hasattr(images, "ndim"):
        images = np.asarray(images)
    if images.ndim == 2:
        images = images[None, None]            # (H, W) -> (1, 1, H, W)
    elif images.ndim == 3:
        images = images[:, None]               # (N, H, W) -> (N, 1, H, W)
    elif images.ndim != 4:
        raise ValueError(f"as_batch: expected images shaped (N, H, W), (N, C, H, W) or (H, W), "
                         f"received shape {tuple(images.shape)}")
    kind = images.dtype.kind
    if kind not in "uifb":
        raise ValueError(f"as_batch: expected uint8 or float images, received dtype {images.dtype}")
    if kind in "ui" and images.dtype != np.uint8 and images.size:
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"as_batch: integer images must hold pixel values 0..255, "
                             f"received values from {lo} to {hi}")
    # Move the compact array (uint8 is a quarter of float32), then convert on the device, into a copy.
    batch = asarray(images).astype(dtype)
    if kind in "ui":
        batch /= 255.0
    elif kind == "f" and batch.size:
        lo, hi = float(batch.min()), float(batch.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):   # one NaN makes min and max NaN
            raise ValueError("as_batch: the images hold NaN or infinite pixels; a network "
                             "cannot learn from them or score them")
        if lo < -1e-6 or hi > 1.0 + 1e-6:   # a rounding error's slack, not 0..255
            raise ValueError(f"as_batch: float images must already lie in [0, 1], received values from {lo:g} "
                             f"to {hi:g}; pass uint8 images (0..255) or divide by 255")
    return batch


class DataLoader:
    """Mini-batches of ``(images, labels)``, reshuffled every epoch.

        for xb, yb in DataLoader(x_train, y_train, batch_size=64, seed=0):
            ...   # xb: float32 (B, 1, 28, 28) in [0, 1], yb: int64 (B,), on the active backend

    x: images as ``as_batch`` takes them, N first, e.g. uint8 (N, 28, 28); y: integer (N,). Each epoch
    (``for`` loop) visits every sample once, in a new order when ``shuffle``; the last batch may be smaller.
    seed: one seed gives the same epochs every run; None draws them from minicnn's generator (manual_seed).
    dtype: the images' float dtype in a batch, the model's (``fit`` passes it)."""

    def __init__(self, x, y, batch_size=64, shuffle=True, seed=None, dtype=np.float32):
        check_images("DataLoader", x, y)
        self.x, self.y = x, y
        self.batch_size = check_count("DataLoader batch_size", batch_size)
        self.shuffle, self.dtype = bool(shuffle), dtype
        self.rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self):
        return -(-len(self.x) // self.batch_size)      # batches per epoch: ceil(N / B), a last partial one counts

    def __iter__(self):
        return self.batches(self.epoch_order())

    def epoch_order(self):
        """The order (N,) in which the next epoch visits the samples: a new one when shuffling."""
        if not self.shuffle:
            return np.arange(len(self.x))
        return (self.rng if self.rng is not None else cpu_rng()).permutation(len(self.x))

    def batches(self, order, start=0):
        """One epoch's (images, labels) batches in ``order``, from batch ``start`` on (a resumed run's)."""
        x_mod, y_mod = get_array_module(self.x), get_array_module(self.y)
        for first in range(start * self.batch_size, len(order), self.batch_size):
            idx = order[first:first + self.batch_size]    # (B,) the last one may be shorter
            xb = as_batch(self.x[x_mod.asarray(idx)], self.dtype)     # (B, 1, H, W)
            yb = asarray(self.y[y_mod.asarray(idx)], dtype=np.int64)   # (B,)
            yield xb, yb


def check_images(who, x, y=None, names=("x", "y")):
    """N, after checking that ``x`` holds (N, H, W) or (N, C, H, W) images with finite pixels and ``y`` (if
    given) N integer class labels, none negative; each error names ``who`` (the caller) and the array."""
    x_name, y_name = names
    if not hasattr(x, "shape") or len(x.shape) not in (3, 4):
        raise ValueError(f"{who} expected images {x_name} of shape (N, H, W) or (N, C, H, W), received {_describe(x)}")
    if getattr(x, "dtype", None) is not None and x.dtype.kind in "fc" and x.size:
        xp = get_array_module(x)
        finite = xp.isfinite(x).reshape(len(x), -1).all(axis=1)          # (N,) per image
        if not bool(finite.all()):
            first = int(xp.argmin(finite))
            raise ValueError(f"{who}: the images {x_name} hold NaN or infinite pixels (image {first} is the "
                             f"first of {int((~finite).sum())}); a network cannot learn from them or score them")
    if y is None:
        return int(x.shape[0])
    if not hasattr(y, "shape") or len(y.shape) != 1 or getattr(y, "dtype", np.dtype(float)).kind not in "ui":
        raise ValueError(f"{who} expected integer class labels {y_name} of shape (N,), received {_describe(y)}")
    if len(y) != len(x):
        raise ValueError(f"{who} received {len(x)} images but {len(y)} labels")
    check_labels(who, y, name=y_name)
    return int(x.shape[0])


def check_labels(who, y, num_classes=None, name="y"):
    """Check that the integer labels ``y`` (N,) are class indices 0..num_classes-1."""
    if not len(y):
        return
    y = np.asarray(y.get() if hasattr(y, "get") else y)
    lowest, highest = int(y.argmin()), int(y.argmax())
    if y[lowest] < 0:
        raise ValueError(f"{who}: label {name}[{lowest}] is {int(y[lowest])}; class labels count "
                         "from 0, so none may be negative")
    if num_classes is not None and y[highest] >= num_classes:
        raise ValueError(f"{who}: label {name}[{highest}] is {int(y[highest])}, but the model has "
                         f"{num_classes} classes (labels 0..{num_classes - 1})")


def check_count(name, value, minimum=1):
    """``value`` as an int, after checking that it is a whole number >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, received {value!r}")
    return int(value)


def _describe(a):
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return f"{a.dtype} array of shape {tuple(a.shape)}"
    return type(a).__name__
