"""Solutions for lesson 08: error analysis."""
import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts (K, K), int64: entry [t, p] = how many images of true class t were predicted as p."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    # Each pair (t, p) becomes the single number t*K + p; counting those fills the K*K cells
    # in one pass (the loop version: for t, p in zip(y_true, y_pred): matrix[t, p] += 1).
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
