"""Where the model goes wrong: the confusion matrix and the most confident mistakes."""
import math

import numpy as np

from ..backend import to_numpy
from .extras import clear_figure

ANNOTATE_UP_TO = 20   # write the number in every cell for up to this many classes


def class_label(classes, k):
    """The name of class ``k`` (its index when no names are given)."""
    return str(k) if classes is None else str(classes[k])


def _labels(name, y, num_classes=None):
    y = to_numpy(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise ValueError(f"{name} must be a 1-D array of integer class labels, "
                         f"received shape {y.shape} and dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} contains the negative label {y.min()}")
    if num_classes is not None and y.size and y.max() >= num_classes:
        raise ValueError(f"{name} contains label {y.max()}, outside the {num_classes} classes 0..{num_classes - 1}")
    return y.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts (K, K), int64: entry [t, p] is how many images of true class t were predicted p; rows are true
    classes, columns predicted ones (scikit-learn's convention), so the diagonal holds the correct ones."""
    y_true, y_pred = _labels("y_true", y_true, num_classes), _labels("y_pred", y_pred, num_classes)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    k = num_classes or int(max(y_true.max(initial=-1), y_pred.max(initial=-1)) + 1)
    # Each (t, p) pair is one number t*K + p; counting those numbers fills the matrix at once.
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _draw_matrix(ax, values, fmt, title, classes):
    k = len(values)
    ax.imshow(values, cmap="Blues", vmin=0)
    names = [class_label(classes, i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 2 else 0, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title, fontsize=10)
    if k <= ANNOTATE_UP_TO:
        high = values.max() or 1
        for t, p in np.ndindex(k, k):
            ax.text(p, t, format(values[t, p], fmt), ha="center", va="center", fontsize=7,
                    color="white" if values[t, p] > 0.6 * high else "black")


def plot_confusion_matrix(y_true, y_pred, classes=None, kind="both", fig=None):
    """Draw the confusion matrix: raw counts, row-normalised fractions (each row divided by its class's count,
    so the diagonal is the per-class recall) or both side by side. ``fig.matrix`` holds the counts (K, K)."""
    if kind not in ("both", "counts", "normalized"):
        raise ValueError(f'kind must be "both", "counts" or "normalized", received {kind!r}')
    counts = confusion_matrix(y_true, y_pred, None if classes is None else len(classes))
    n = counts.sum()
    accuracy = np.trace(counts) / n if n else 0.0
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)   # (K, K), non-empty rows sum to 1
    panels = {"counts": (counts, "d", f"counts ({n} images, accuracy {accuracy:.1%})"),
              "normalized": (fractions, ".2f", "normalised by row (fraction of each true class)")}
    shown = ["counts", "normalized"] if kind == "both" else [kind]
    fig = clear_figure(fig, (6.0 * len(shown), 5.5))
    for ax, name in zip(np.atleast_1d(fig.subplots(1, len(shown))), shown):
        _draw_matrix(ax, *panels[name], classes)
    fig.matrix = counts
    return fig


def misclassified(y_true, probs):
    """Indices of the wrongly predicted images, most confident mistake first; probs: (N, K) class
    probabilities. Confidence is the probability the model gave the class it wrongly predicted."""
    probs = to_numpy(probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, K) class probabilities, received shape {probs.shape}")
    y_true = _labels("y_true", y_true, probs.shape[1])
    if len(y_true) != len(probs):
        raise ValueError(f"y_true has {len(y_true)} labels but probs has {len(probs)} rows")
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")]


def plot_misclassified(images, y_true, probs, classes=None, n=24, ncols=8, fig=None):
    """Grid of the ``n`` most confident mistakes (``fig.indices``, in order) with their true and predicted labels
    and the prediction's probability. images: (N, H, W) or (N, 1, H, W); probs: (N, K), from ``predict_proba``."""
    images, probs = to_numpy(images), to_numpy(probs)
    if len(images) != len(probs):
        raise ValueError(f"images has {len(images)} entries but probs has {len(probs)} rows")
    wrong = misclassified(y_true, probs)
    order = wrong[:n]
    y_true = to_numpy(y_true)
    titles = [f"true {class_label(classes, int(y_true[i]))}\n"
              f"pred {class_label(classes, int(probs[i].argmax()))} {probs[i].max():.0%}" for i in order]
    fig = image_grid(clear_figure(fig), images[order], titles, ncols, "no misclassified images")
    fig.suptitle(f"{len(order)} most confident mistakes (of {len(wrong)})")
    fig.indices = order
    return fig


def image_grid(fig, images, titles, ncols, empty):
    """Draw ``images`` (n, H, W) or (n, 1, H, W), titled, ``ncols`` to a row, on ``fig`` (cleared and sized
    to fit); ``empty`` is what it says when there are none."""
    fig.clear()
    rows = math.ceil(len(images) / ncols)
    fig.set_size_inches(1.4 * ncols, 1.7 * max(rows, 1) + 0.5)
    if rows == 0:
        fig.text(0.5, 0.5, empty, ha="center", va="center")
    for j, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, ncols, j + 1)
        ax.imshow(image.reshape(image.shape[-2:]), cmap="gray")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    return fig
