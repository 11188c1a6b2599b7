"""From any drawing (a canvas, a photo, a PIL image) to the 28x28 picture MNIST's digits are made of."""
import warnings

import numpy as np

from ..optional import pip_install, require

# Where MNIST puts a digit's centre of mass, (row, column) from 0: the mean over its 60,000 training digits.
MNIST_CENTER_OF_MASS = (14.00, 14.01)
MNIST_SIZE = 28
MNIST_BOX = 20
# Ink above this level (0..1); fainter pixels are the anti-aliased fringe or noise and must not stretch the crop.
INK_THRESHOLD = 0.1
# The largest image read, in pixels, more than a 48-megapixel phone photo; checked from the header before
# decoding, as a small file can declare billions (a "decompression bomb"). Its float64 copy is 400 MB.
MAX_PIXELS = 50_000_000
# 16-bit grayscale, as Pillow opens a 16-bit PNG: values 0..65535.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def open_image(path, max_pixels=MAX_PIXELS):
    """The image in the file ``path`` as a decoded PIL image; a ValueError, before decoding, over ``max_pixels``."""
    Image = require("PIL.Image", "open_image", pip_install("viz"), "Pillow")
    try:
        with warnings.catch_warnings():
            # Pillow warns above 89 Mpx and refuses above twice that: both are ours to say.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{path} is too large to read: it declares more than the {max_pixels:,} pixels "
                         "minicnn reads (Pillow refused it as a possible decompression bomb)") from None
    try:
        _check_size(img.size, max_pixels, path)
        img.load()
    except BaseException:
        img.close()                                     # the file, opened by Image.open
        raise
    return img


def _check_size(size, max_pixels, what):
    width, height = size
    if width * height > max_pixels:
        raise ValueError(f"{what} is too large to read: {width:,} x {height:,} pixels, more than "
                         f"the {max_pixels:,} minicnn reads")


def center_of_mass(image):
    """(row, column) of the intensity-weighted centre of a (H, W) image, counting from 0."""
    image = np.asarray(image, dtype=np.float64)
    total = image.sum()
    if total <= 0:
        raise ValueError("center_of_mass needs an image with some ink; received an all-zero image")
    h, w = image.shape
    return float(image.sum(axis=1) @ np.arange(h) / total), float(image.sum(axis=0) @ np.arange(w) / total)


def _ink_image(image):
    """Any drawing -> float64 (H, W) with 1 = ink and 0 = background: a PIL image or an array (H, W),
    (H, W, 1), (H, W, 3) or (H, W, 4), uint8 in [0, 255], uint16 in [0, 65535] or floats in [0, 1]."""
    if hasattr(image, "getbands"):                       # a PIL image
        _check_size(image.size, MAX_PIXELS, "the image")
        if image.mode in _SIXTEEN_BIT_MODES:
            # convert("L") would clip every value above 255 to full white: scale instead.
            image = np.asarray(image)
            if image.min() < 0 or image.max() > 65535:
                raise ValueError("preprocess_drawing expects a 16-bit grayscale image in [0, 65535]; "
                                 f"received values from {image.min()} to {image.max()}")
            image = image.astype(np.uint16)
        else:
            image = np.asarray(image.convert("RGBA") if "A" in image.getbands()
                               or image.mode == "P" else image.convert("L"))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"preprocess_drawing expects a grayscale (H, W), RGB (H, W, 3) or RGBA "
                         f"(H, W, 4) image; received an array of shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"preprocess_drawing received an empty image of shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.float64)
    elif a.dtype == np.uint16:                           # 16-bit: its own scale, 0..65535
        a = a.astype(np.float64) / 65535.0
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"preprocess_drawing expects integer pixels in [0, 255]; received "
                             f"values from {a.min()} to {a.max()}")
        a = a.astype(np.float64) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError(f"preprocess_drawing expects float pixels in [0, 1]; received values "
                             f"from {np.nanmin(a)} to {np.nanmax(a)}")
        a = a.astype(np.float64)
    else:
        raise ValueError(f"preprocess_drawing expects a numeric image; received dtype {a.dtype}")

    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[:, :, 3]
        if alpha.min() < 1.0:
            # A transparent canvas (ipycanvas, a cut-out PNG): the ink is where anything was painted.
            return alpha
        a = a[:, :, :3]
    if a.ndim == 3:
        a = a @ np.array([0.299, 0.587, 0.114])           # ITU-R 601 luma, as Pillow's "L"

    # Ink on paper is dark on light and the border is mostly background, so a light border means
    # invert; subtracting the background level then removes the grey of photographed paper.
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:
        a = 1.0 - a
        border = 1.0 - border
    background = float(np.median(border))
    if background > 0:
        a = np.clip((a - background) / (1.0 - background), 0.0, 1.0)
    return a


def preprocess_drawing(image):
    """Turn a drawing of any size (a PIL image or an array (H, W), (H, W, 3) or (H, W, 4), uint8 or floats in
    [0, 1]; ink light on dark, dark on light or in the alpha channel) into an MNIST-style digit: float32
    (1, 28, 28) in [0, 1], ink = 1, like ``data.as_batch(x)[i]``; None if it is empty. MNIST's own steps: crop
    to the ink's bounding box, scale it to fit 20x20 keeping the aspect ratio (anti-aliased), and place it in
    28x28 with its centre of mass at ``MNIST_CENTER_OF_MASS``."""
    Image = require("PIL.Image", "preprocess_drawing", pip_install("viz"), "Pillow")
    ink = _ink_image(image)                               # (H, W), 1 = ink
    inked = ink > INK_THRESHOLD                           # (H, W)
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]   # (h, w) bounding box

    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    # Pillow's bilinear resize widens its triangle filter when it shrinks, so a big canvas is anti-aliased
    # (area-weighted), and unlike Lanczos it never overshoots: the result needs no clipping.
    small = Image.fromarray(crop.astype(np.float32)).resize((new_w, new_h), Image.Resampling.BILINEAR)
    small = np.asarray(small, dtype=np.float64)                   # (new_h, new_w)
    if small.max() <= 0:
        return None
    # Every MNIST digit reaches full ink; a thin stroke shrunk 10x would be a grey the network never saw.
    small = small / small.max()

    # An integer shift, as MNIST did (its centres spread 0.29 px around the mean, the deviation of a uniform
    # +-0.5 px rounding), so the ink is not blurred again; clamped so a lopsided digit stays in the field.
    com_row, com_col = center_of_mass(small)
    top = int(np.clip(round(MNIST_CENTER_OF_MASS[0] - com_row), 0, MNIST_SIZE - new_h))
    left = int(np.clip(round(MNIST_CENTER_OF_MASS[1] - com_col), 0, MNIST_SIZE - new_w))
    out = np.zeros((1, MNIST_SIZE, MNIST_SIZE), dtype=np.float32)     # (1, 28, 28)
    out[0, top:top + new_h, left:left + new_w] = small
    return out
