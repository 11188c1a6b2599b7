"""Data augmentation: ``RandomAffine`` turns and shifts every training image a little. A digit 2 pixels
lower or 8 degrees tilted is the same digit: new such copies every epoch make the network learn shapes,
not the pixels of 55,000 images (validation and test images are scored as they are). The batch is warped
at once: every output pixel reads where it comes from (the inverse map) by bilinear interpolation.
Notation: B images, C channels, H x W pixels; points are (row, column).
"""
import numpy as np

from ..backend import cpu_rng, get_array_module, to_numpy


class RandomAffine:
    """Turn each image by up to ``degrees`` and shift it by up to ``translate``, keeping its ink.

        augment = RandomAffine(degrees=10, translate=(0.1, 0.1))
        xb = augment(xb, rng)             # float (B, C, H, W), a new copy of every image

    degrees    each image turns by an angle drawn uniformly from [-degrees, degrees]
               (counter-clockwise on screen for positive angles) about the centre of its ink box
    translate  (horizontal, vertical) as fractions of the width and height, as in torchvision:
               (0.1, 0.1) shifts by up to 2.8 pixels each way on a 28x28 image
    Unlike torchvision, no ink leaves the frame: shifts are drawn from the range that keeps the turned
    ink box (grown by bilinear sampling's pixel) inside, and an image whose turned box cannot fit stays
    upright. rng: a NumPy Generator (default: minicnn's, see ``manual_seed``).
    """

    def __init__(self, degrees=10.0, translate=(0.1, 0.1)):
        if not 0 <= degrees <= 180 or len(translate) != 2 or not all(0 <= t <= 1 for t in translate):
            raise ValueError(f"RandomAffine expected degrees in [0, 180] and translate=(a, b) in "
                             f"[0, 1], received degrees={degrees!r}, translate={translate!r}")
        self.degrees, self.translate = float(degrees), tuple(float(t) for t in translate)

    def __call__(self, x, rng=None):
        return affine(x, *self.get_params(x, rng))

    def get_params(self, x, rng=None):
        """(angle (B,), shift (B, 2), center (B, 2)) drawn for the images ``x`` (B, C, H, W)."""
        rng = cpu_rng() if rng is None else rng
        B, _, H, W = x.shape
        top, bottom, left, right = ink_box(x)                                  # (B,) each
        center = np.stack([top + bottom, left + right], axis=1) / 2            # (B, 2)
        half = np.stack([bottom - top, right - left], axis=1) / 2 + 1          # (B, 2) grown by 1 px
        limit = np.array([self.translate[1] * H, self.translate[0] * W])      # (2,) (rows, columns)
        angle = rng.uniform(-self.degrees, self.degrees, B)                    # (B,)
        lo, hi = _shift_range(angle, center, half, (H, W), limit)
        angle = np.where((lo <= hi).all(axis=1), angle, 0.0)                   # cannot turn: upright
        lo, hi = _shift_range(angle, center, half, (H, W), limit)              # upright: lo <= 0 <= hi
        shift = lo + rng.random((B, 2)) * (hi - lo)                            # (B, 2)
        return angle, shift, center

    def __repr__(self):
        return f"RandomAffine(degrees={self.degrees:g}, translate={self.translate})"


def ink_box(x):
    """(top, bottom, left, right), each int (B,): the first and last row and column of each
    image of ``x`` (B, C, H, W) holding any ink (> 0); the whole frame for a blank image."""
    ink = to_numpy((x > 0).any(axis=1))                                        # (B, H, W)
    rows, cols = ink.any(axis=2), ink.any(axis=1)                              # (B, H), (B, W)
    H, W = rows.shape[1], cols.shape[1]
    return rows.argmax(1), H - 1 - rows[:, ::-1].argmax(1), cols.argmax(1), W - 1 - cols[:, ::-1].argmax(1)


def _shift_range(angle, center, half, size, limit):
    """(lo, hi), each (B, 2): the shifts, at most ``limit``, that keep the box ``center`` +-
    ``half`` turned by ``angle`` clear of row -1 and row H (column -1 and W), just outside."""
    t = np.deg2rad(angle)[:, None]
    c, s = np.abs(np.cos(t)), np.abs(np.sin(t))                                # (B, 1)
    reach = np.concatenate([half[:, :1] * c + half[:, 1:] * s,                 # (B, 2) half-extent
                            half[:, :1] * s + half[:, 1:] * c], axis=1)        # of the turned box
    return np.maximum(reach - 1 - center, -limit), np.minimum(np.array(size) - reach - center, limit)


def affine(x, angle, shift, center):
    """Turn image i of ``x`` by ``angle[i]`` degrees about ``center[i]``, then shift it by ``shift[i]``.
    x: float (B, C, H, W); angle: (B,); shift, center: (B, 2) in pixels (rows, columns).
    Returns float (B, C, H, W), bilinear; whatever comes from outside the image is 0."""
    xp = get_array_module(x)
    B, C, H, W = x.shape
    t = xp.asarray(np.deg2rad(angle))[:, None, None]                            # (B, 1, 1)
    cos, sin = xp.cos(t), xp.sin(t)
    center, shift = xp.asarray(center)[:, :, None, None], xp.asarray(shift)[:, :, None, None]
    dr = xp.arange(H)[None, :, None] - center[:, 0] - shift[:, 0]               # (B, H, 1)
    dc = xp.arange(W)[None, None, :] - center[:, 1] - shift[:, 1]               # (B, 1, W)
    src_r = cos * dr + sin * dc + center[:, 0]           # (B, H, W): where each output pixel
    src_c = -sin * dr + cos * dc + center[:, 1]          # reads from (the inverse turn)
    r0, c0 = xp.floor(src_r), xp.floor(src_c)
    fr, fc = (src_r - r0).astype(x.dtype), (src_c - c0).astype(x.dtype)        # (B, H, W)
    # A zero border and indices clipped onto it: a read from outside the image gives 0.
    padded = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).transpose(0, 2, 3, 1)  # (B, H+2, W+2, C)
    pixels = padded.reshape(-1, C)                          # (B * (H+2) * (W+2), C), one row a pixel
    r0, c0 = r0.astype(np.int64) + 1, c0.astype(np.int64) + 1
    first = xp.arange(B)[:, None, None] * ((H + 2) * (W + 2))                    # (B, 1, 1)
    rows = [first + xp.clip(r, 0, H + 1) * (W + 2) for r in (r0, r0 + 1)]       # (B, H, W) each
    cols = [xp.clip(c, 0, W + 1) for c in (c0, c0 + 1)]
    out = ((1 - fr) * (1 - fc))[..., None] * pixels[rows[0] + cols[0]]          # (B, H, W, C)
    out += ((1 - fr) * fc)[..., None] * pixels[rows[0] + cols[1]]
    out += (fr * (1 - fc))[..., None] * pixels[rows[1] + cols[0]]
    out += (fr * fc)[..., None] * pixels[rows[1] + cols[1]]
    return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))                     # (B, C, H, W)
