"""Hold out a validation set: ``train_val_split``. Settings (epochs, learning rate, augmentation) are
chosen on images the model never trained on, and not on the test set: once it has chosen anything, its
accuracy is no longer an honest estimate. So the training set is split again; the test set is used once.
"""
import numpy as np

from .loader import check_labels


def train_val_split(x, y, val_size, seed=0):
    """Split images ``x`` (N, ...) and labels ``y`` (N,) into ``(x_train, y_train, x_val, y_val)``, with
    0 <= val_size < N images in the validation part. Stratified (each class gets its share of val_size,
    rounded so the shares add up) and seeded; both parts keep the images' original order."""
    n = len(y)
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)) or not 0 <= val_size < n:
        raise ValueError(f"train_val_split: val_size must be a whole number from 0 to {n - 1} (the training "
                         f"part keeps at least one of the {n:,} images), received {val_size!r}")
    labels = np.asarray(y.get() if hasattr(y, "get") else y)
    if labels.ndim != 1 or labels.dtype.kind not in "ui" or len(x) != n:
        raise ValueError(f"train_val_split expected integer class labels of shape (N,) for N = "
                         f"{len(x)} images, received {labels.dtype} labels of shape {labels.shape}")
    check_labels("train_val_split", labels)
    # The classes that occur, numbered 0..K-1 in order: memory grows with the number of
    # images, not with the largest label (np.bincount(labels) would make an array that long).
    _, cls, counts = np.unique(labels, return_inverse=True, return_counts=True)  # (N,), (K,)
    quota = counts * (val_size / n)                               # (K,) each class's exact share
    share = np.floor(quota).astype(np.int64)
    # The largest fractional parts get the images the rounding down left over.
    share[np.argsort(share - quota, kind="stable")[:val_size - share.sum()]] += 1

    order = np.random.default_rng(seed).permutation(n)            # (N,) a random order...
    order = order[np.argsort(cls[order], kind="stable")]         # ...grouped by class
    first = np.cumsum(counts) - counts                            # (K,) where each class starts
    rank = np.arange(n) - np.repeat(first, counts)                # (N,) position within its class
    is_val = np.zeros(n, dtype=bool)
    is_val[order[rank < np.repeat(share, counts)]] = True         # the first `share` of each class
    return x[~is_val], y[~is_val], x[is_val], y[is_val]
