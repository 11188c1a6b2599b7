"""Solutions for lesson 00: setup and tour."""
import numpy as np


def to_batch(images):
    """uint8 images (N, H, W) -> float32 batch (N, 1, H, W) with values in [0, 1]."""
    batch = images[:, None].astype(np.float32)    # (N, 1, H, W): one grey channel
    batch /= 255.0                                # 0..255 -> 0..1
    return batch
