"""The mosaic that lays many small images (filters, feature maps, digits) out in one grid."""
import math

import numpy as np


def tile(images, ncols, pad=1):
    """Lay out (N, h, w) images in a grid with ``ncols`` columns, NaN between them: (rows*(h+pad) - pad,
    ncols*(w+pad) - pad). One imshow draws it all, far faster than one matplotlib axes per small image."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return grid
