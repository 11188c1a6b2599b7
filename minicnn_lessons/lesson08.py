"""Lesson 08: error analysis. The solution of the confusion-matrix exercise, and its check.

The check runs the version that answered on cases chosen to catch the usual mistakes and prints one
✓ line per case when all of them pass. When one fails it prints a ✗ line for each case that failed,
with a hint where the mistake is recognisable, and lists the cases that were right.
"""
import numpy as np

from . import Report, call, close_to, compare, whose
from .lesson06 import trained_model  # noqa: F401  (lesson 06's network)

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def confusion_matrix(y_true, y_pred, num_classes, normalize=False):
    """y_true, y_pred: (N,) class labels in 0..K-1, K = num_classes.
    Returns (K, K): entry [t, p] counts the images of true class t predicted as p (int64).
    normalize=True: each row divided by its sum instead (float64); a row with no images stays 0."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    # Each pair (t, p) becomes the single number t*K + p; counting those fills the K*K cells in one
    # pass. minlength: the cells of pairs that never occur must be there too, as zeros.
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    matrix = counts.reshape(num_classes, num_classes)                # (K, K), rows: true classes
    if not normalize:
        return matrix
    rows = matrix.sum(axis=1, keepdims=True)                         # (K, 1): images per true class
    return matrix / np.maximum(rows, 1)                              # an empty row stays 0, not 0/0


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _count_by_loop(y_true, y_pred, k):
    """The definition, one image at a time: independent of any NumPy trick."""
    matrix = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        matrix[t, p] += 1
    return matrix


def _rows(matrix):
    return matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)


def _count_hint(got, expected):
    """Name a recognisable mistake in a matrix of counts ('' if none)."""
    if getattr(got, "shape", None) != expected.shape:
        return ""
    diagonal = np.diag(np.diag(expected))
    if close_to(got, expected.T):
        return (". Yours is transposed: rows are the true classes and columns the predicted ones, "
                "so entry [t, p] counts true t predicted as p")
    if close_to(got, expected - diagonal):
        return (". Yours has zeros on the diagonal: the diagonal counts the correct predictions "
                "(true k predicted k), which belong in the matrix too")
    if close_to(got, expected + diagonal):
        return ". Yours counts the diagonal (the correct predictions) twice"
    return ""


def _normalised_hint(got, expected_counts):
    if getattr(got, "shape", None) != expected_counts.shape:
        return ""
    got = np.asarray(got, dtype=np.float64)
    if np.isnan(got).any():
        return (". A class with no images has a row that sums to 0, and 0/0 is nan: leave that row "
                "at 0 (divide by the row sum, or by 1 where the sum is 0)")
    columns = expected_counts / np.maximum(expected_counts.sum(axis=0, keepdims=True), 1)
    if close_to(got, columns):
        return (". Yours divides each column by its sum: normalising by rows divides each row (a true "
                "class) by the number of images of that class, so each row sums to 1")
    if close_to(got, _rows(expected_counts.T)):
        return ". Yours is transposed: rows are the true classes, columns the predicted ones"
    if close_to(got, expected_counts / expected_counts.sum()):
        return ". Yours divides by the total number of images; each row is divided by its own sum"
    return ""


def check_confusion_matrix(fn):
    """Counts and row-normalised fractions on a hand-made case whose mistakes are not symmetric (a
    transposed matrix differs), on a case where one class is never predicted and one never occurs,
    and on 500 random labels of 7 classes; against the definition counted one image at a time."""
    rng = np.random.default_rng(8)
    cases = [
        ("4 classes whose mistakes go one way (two 0s taken for 1s, no 1 for a 0)", np.array([0, 0, 0, 1, 1, 2, 2, 2, 3]), np.array([0, 1, 1, 1, 2, 2, 0, 2, 3]), 4),
        ("6 classes where class 4 is never predicted and class 5 never occurs",
         np.array([0, 1, 2, 3, 4, 4, 4, 1, 0, 3]), np.array([0, 1, 2, 3, 3, 0, 1, 1, 2, 3]), 6),
        ("500 random labels of 7 classes", rng.integers(0, 7, 500), rng.integers(0, 7, 500), 7),
    ]
    report = Report(fn)
    for name, y_true, y_pred, k in cases:
        expected = _count_by_loop(y_true, y_pred, k)
        got, error = call(fn, y_true.copy(), y_pred.copy(), k)
        if error:
            text = f"{whose(fn)} failed on {name}: {error}"
            if "reshape" in error or "broadcast" in error:
                text += (". np.bincount counts only up to the largest number it sees, so a pair that "
                         "never occurs at the end is missing: give it minlength=K*K")
            report.add(False, text, f"the counts for {name}")
        else:
            ok, text = compare(fn, got, expected, f"the counts for {name}", rtol=0, atol=0, dtype=np.int64)
            if not ok and "dtype" in text:
                text += ": counts are whole numbers (np.zeros(..., dtype=np.int64), or np.bincount)"
            elif not ok:
                text += _count_hint(got, expected)
            report.add(ok, text, f"the counts for {name}")
        if k == 7:
            continue                              # the random case checks the counts only
        got, error = call(fn, y_true.copy(), y_pred.copy(), k, normalize=True)
        what = f"normalize=True on {name}"
        if error:
            report.add(False, f"{whose(fn)} failed with {what}: {error}", what)
            continue
        ok, text = compare(fn, got, _rows(expected), what, rtol=1e-12, atol=1e-12)
        if not ok:
            text += _normalised_hint(got, expected)
        report.add(ok, text, what)
    return report.close()
