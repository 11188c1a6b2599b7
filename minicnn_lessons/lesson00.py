"""Lesson 00: setup and a tour. The solution, and the check of the learner's version (one line per
case; see minicnn_lessons.Report)."""
import numpy as np

from . import Report, call, close_to, compare, whose

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def to_batch(images):
    """uint8 images (N, H, W) -> float32 batch (N, 1, H, W) with values in [0, 1]."""
    batch = images[:, None].astype(np.float32)      # (N, 1, H, W): one grey channel, a new array
    batch /= 255.0                                  # 0..255 -> 0..1
    return batch


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def check_to_batch(fn):
    """Shape, dtype and values on MNIST-sized images, non-square images, one image, and a faint batch
    (whose darkest pixel is far below 255); the caller's images left unchanged."""
    rng = np.random.default_rng(0)
    bold = rng.integers(0, 256, (16, 28, 28), dtype=np.uint8)
    bold[0, 0, :2] = (0, 255)                              # both ends of the range are there
    cases = [  # (name, uint8 images (N, H, W))
        ("16 images of 28 x 28", bold),
        ("3 non-square images of 5 x 7", rng.integers(0, 256, (3, 5, 7), dtype=np.uint8)),
        ("a single image", bold[:1]),
        ("4 faint images (no pixel darker than 100)", rng.integers(0, 101, (4, 28, 28), dtype=np.uint8)),
    ]
    report = Report(fn)
    for name, images in cases:
        got, error = call(fn, images)             # call also makes sure the images are left unchanged
        if error:
            report.add(False, f"{whose(fn)} failed on {name}: {error}", name)
            continue
        expected = images[:, None].astype(np.float64) / 255.0        # (N, 1, H, W)
        ok, text = compare(fn, got, expected, name, rtol=1e-6, atol=1e-7, dtype=np.float32)
        if not ok and hasattr(got, "shape"):
            shape, n, h, w = tuple(got.shape), *images.shape
            if shape == (n, h, w, 1):
                text += (". Yours puts the channel last (N, H, W, 1); minicnn, like PyTorch, wants it "
                         "second: (N, 1, H, W). images[:, None] inserts it there")
            elif shape == (n, h, w):
                text += ". The channel axis is missing: (N, 1, H, W), e.g. images[:, None]"
            elif shape == expected.shape and got.dtype != np.float32:
                text += (". Convert to float32 (.astype(np.float32)), the precision training uses; "
                         "dividing a uint8 array by 255 gives float64")
            elif shape == expected.shape and close_to(got, expected * 255, 1e-6, 1e-6):
                text += ". Yours keeps the values 0..255: divide by 255"
            elif shape == expected.shape and close_to(got, expected * 255 / 256, 1e-6, 1e-7):
                text += ". Yours divides by 256: full ink, 255, must become exactly 1"
            elif shape == expected.shape and close_to(got, expected * 255 / max(int(images.max()), 1),
                                                      1e-6, 1e-7):
                text += (". Yours divides by the batch's largest pixel, so a faint batch comes out as "
                         "dark as a bold one: divide by 255, the largest value a pixel can have")
        report.add(ok, text, name)
    return report.close()
