"""Lesson 09: draw your own digit. The solution of the centre-of-mass exercise, and its check.

The check runs the version that answered on cases chosen to catch the usual mistakes and prints one
✓ line per case when all of them pass. When one fails it prints a ✗ line for each case that failed,
with a hint where the mistake is recognisable, and lists the cases that were right.
"""
import numpy as np

from minicnn.drawing import MNIST_CENTER_OF_MASS, MNIST_SIZE

from . import Report, call, compare, whose
from .lesson06 import FAST_RUN, saved_model_path, trained_model  # noqa: F401  (lesson 06's network)

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def place_at_center_of_mass(small):
    """small: (h, w) digit, h, w <= 20, ink >= 0. Returns float32 (28, 28): zeros, with `small` pasted
    at the whole-pixel offset that brings its centre of mass nearest MNIST_CENTER_OF_MASS."""
    h, w = small.shape
    total = small.sum()
    com_row = small.sum(axis=1) @ np.arange(h) / total     # intensity-weighted mean row
    com_col = small.sum(axis=0) @ np.arange(w) / total     # ... and column
    # Pasted at (top, left), the centre of mass moves to (top + com_row, left + com_col): solve for
    # the offset, round to whole pixels, and clamp so that the digit stays inside the field.
    top = int(np.clip(round(MNIST_CENTER_OF_MASS[0] - com_row), 0, MNIST_SIZE - h))
    left = int(np.clip(round(MNIST_CENTER_OF_MASS[1] - com_col), 0, MNIST_SIZE - w))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    out[top:top + h, left:left + w] = small
    return out


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _shapes():
    """Three small digits, none square and none with its centre of mass at the same row and column,
    so that swapped rows and columns show. In none of them does the target minus the centre of mass
    lie within 0.05 of a half pixel (rounding it is unambiguous, and 14 in place of the measured
    centre gives the same shift)."""
    seven = np.zeros((18, 12))                               # a 7: a bar, a diagonal, a heavy foot
    seven[0:2, :] = 1.0
    for i in range(2, 18):
        j = int(round(11 - (i - 2) * 0.6))
        seven[i, max(j - 2, 0):j + 1] = 0.9
    seven[14:18, 0:4] = 1.0
    lopsided = np.zeros((20, 20))                            # a thick bar on the left, a thin top line
    lopsided[:, :5] = 1.0
    lopsided[:2, :] = 0.5
    club = np.zeros((7, 20))                                 # a flat stroke with a heavy right end
    club[3:5, :] = 0.2
    club[1:7, 14:] = 1.0
    club[0, 16:] = 0.7
    return [
        ("an 18x12 digit that fits without clamping", seven),
        ("a 20x20 lopsided shape (clamped: its shift would push it out on the right)", lopsided),
        ("a 7x20 stroke heavy at its right end (clamped: its shift would push it out on the left)",
         club),
    ]


def _center(a):
    a = np.asarray(a, dtype=np.float64)
    return (float(a.sum(axis=1) @ np.arange(a.shape[0]) / a.sum()),
            float(a.sum(axis=0) @ np.arange(a.shape[1]) / a.sum()))


def _offset(got, small):
    """(top, left) where ``got`` holds ``small`` pasted on zeros, or None."""
    got = np.asarray(got, dtype=np.float64)
    h, w = small.shape
    for top in range(MNIST_SIZE - h + 1):
        for left in range(MNIST_SIZE - w + 1):
            placed = np.zeros((MNIST_SIZE, MNIST_SIZE))
            placed[top:top + h, left:left + w] = small
            if np.allclose(got, placed, rtol=1e-6, atol=1e-7):
                return top, left
    return None


def _hint(got, small, expected_offset):
    """A sentence naming the mistake, from where ``got`` put the digit ('' if unrecognised)."""
    where = _offset(got, small)
    if where is None:
        return ""
    h, w = small.shape
    r, c = _center(small)
    tr, tc = MNIST_CENTER_OF_MASS

    def fit(top, left):
        return int(np.clip(top, 0, MNIST_SIZE - h)), int(np.clip(left, 0, MNIST_SIZE - w))

    def wrapped(top, left):          # a negative start of a slice counts from the end
        return top % MNIST_SIZE if top < 0 else top, left % MNIST_SIZE if left < 0 else left

    said = (f". Yours put the digit's top-left corner at {where}, expected {expected_offset}: its centre "
            f"of mass lands at ({where[0] + r:.2f}, {where[1] + c:.2f}), the target is ({tr:.2f}, {tc:.2f})")
    wrong_sign = (round(r - tr), round(c - tc))
    if where in (fit(*wrong_sign), wrapped(*wrong_sign)):
        return said + ("; the shift has the wrong sign. Pasted at (top, left), the centre of mass lands "
                       "at (top + r̄, left + c̄); for it to land on the target, top = target row − r̄"
                       + ("" if where == fit(*wrong_sign) else
                          " (and a negative offset, unclamped, counts from the end of the field)"))
    if where == fit(round(tr - c), round(tc - r)):
        return said + "; rows and columns are swapped (r̄ is the mean row, from the sums along axis 1)"
    if where in (fit(int(tr - r), int(tc - c)), fit(int(np.floor(tr - r)), int(np.floor(tc - c)))):
        # floor(d) = round(d - 0.5): truncating and aiming half a pixel up-left place a digit alike
        return said + ("; that is one pixel short of the rounded offset, which truncating the offset "
                       "(int or floor) gives, and so does rounding toward a target half a pixel up and "
                       "left, such as (13.5, 13.5), the middle of the field. Round (target − r̄) to the "
                       "nearest whole pixel, with the target MNIST_CENTER_OF_MASS")
    if abs(where[0] - (MNIST_SIZE - h) / 2) <= 1 and abs(where[1] - (MNIST_SIZE - w) / 2) <= 1:
        return said + "; that centres the box, not the centre of mass"
    return said


def check_place_at_center_of_mass(fn):
    """Three digits, each against the definition: pasted at the offset (target - centre of mass),
    rounded to whole pixels and clamped into the 28x28 field."""
    report = Report(fn)
    for name, small in _shapes():
        h, w = small.shape
        r, c = _center(small)
        top = int(np.clip(round(MNIST_CENTER_OF_MASS[0] - r), 0, MNIST_SIZE - h))
        left = int(np.clip(round(MNIST_CENTER_OF_MASS[1] - c), 0, MNIST_SIZE - w))
        expected = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
        expected[top:top + h, left:left + w] = small
        got, error = call(fn, small.copy())
        if error:
            text = f"{whose(fn)} failed on {name}: {error}"
            if "could not broadcast" in error:
                text += (". The digit did not fit where your offset put it: clamp the offsets so that "
                         "0 <= top <= 28 - h and 0 <= left <= 28 - w (np.clip)")
                if (top, left) == (round(MNIST_CENTER_OF_MASS[0] - r), round(MNIST_CENTER_OF_MASS[1] - c)):
                    text += (", though this digit fits without clamping: check the sign of the shift "
                             "(top = target row − r̄)")
            elif "aligned" in error or "mismatch" in error:
                text += (". The weights of a mean row come from the sum of each row, along axis 1 "
                         "(one number per row); for columns, along axis 0")
            report.add(False, text, name)
            continue
        ok, text = compare(fn, got, expected, name, rtol=1e-6, atol=1e-7, dtype=np.float32)
        if ok:
            lands = _center(got)
            text = (f"{whose(fn)} is right for {name}: pasted at (top, left) = ({top}, {left}), its "
                    f"centre of mass lands at ({lands[0]:.2f}, {lands[1]:.2f})")
        elif "dtype" not in text and getattr(got, "shape", None) == expected.shape:
            text += _hint(got, small, (top, left))
        report.add(ok, text, name)
    return report.close()
