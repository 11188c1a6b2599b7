"""Solutions for lesson 09: draw your own digit."""
import numpy as np

from minicnn.drawing import MNIST_CENTER_OF_MASS, MNIST_SIZE, center_of_mass


def place_at_center_of_mass(small):
    """(h, w) digit with h, w <= 20 -> float32 (28, 28) with its centre of mass at MNIST_CENTER_OF_MASS."""
    h, w = small.shape
    com_row, com_col = center_of_mass(small)        # intensity-weighted mean row and column
    # A whole-pixel shift (no new blur), clamped so that the digit stays inside the field.
    top = int(np.clip(round(MNIST_CENTER_OF_MASS[0] - com_row), 0, MNIST_SIZE - h))
    left = int(np.clip(round(MNIST_CENTER_OF_MASS[1] - com_col), 0, MNIST_SIZE - w))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    out[top:top + h, left:left + w] = small
    return out
