"""Solutions for lesson 10: Quick, Draw! doodles."""
import numpy as np


def pca_2d(x):
    """(N, D) float64 -> (N, 2): the centred data projected on its two principal directions."""
    centred = x - x.mean(axis=0)                                  # (N, D), every column has mean 0
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)        # centred = U @ diag(s) @ Vt
    return centred @ Vt[:2].T                                     # (N, 2), the same as U[:, :2] * s[:2]
