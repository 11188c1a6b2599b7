"""RandomAffine: the batched warp against a slow per-image loop; no ink leaves the frame;
seeded; fit applies it to training batches only."""
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import RandomAffine, as_batch
from minicnn.data.augment import affine
from minicnn.models import lenet
from minicnn.train import evaluate, fit


def _reference(image, angle, shift, center):
    """One image (C, H, W), a loop over its output pixels: where each one comes from in the
    input (the inverse of "turn by ``angle`` about ``center``, then shift"), read bilinearly."""
    C, H, W = image.shape
    out = np.zeros((C, H, W))
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    for r in range(H):
        for c in range(W):
            dr, dc = r - center[0] - shift[0], c - center[1] - shift[1]
            src_r, src_c = cos * dr + sin * dc + center[0], -sin * dr + cos * dc + center[1]
            r0, c0 = math.floor(src_r), math.floor(src_c)
            for i, weight_r in ((r0, 1 - (src_r - r0)), (r0 + 1, src_r - r0)):
                for j, weight_c in ((c0, 1 - (src_c - c0)), (c0 + 1, src_c - c0)):
                    if 0 <= i < H and 0 <= j < W:                 # outside the image: 0
                        out[:, r, c] += weight_r * weight_c * image[:, i, j]
    return out


def test_the_batched_warp_matches_a_per_image_loop(backend, mnist):
    digits = np.stack([mnist[0][:3]] * 2, axis=1) / np.float32(255)      # (3, 2, 28, 28)
    noise = np.random.default_rng(0).random((1, 2, 28, 28), dtype=np.float32)
    x = mc.asarray(np.concatenate([digits, noise]))                       # (4, 2, 28, 28)
    rng = np.random.default_rng(1)      # any warp, ink cut off or not: both must read the same
    angle, shift, center = rng.uniform(-30, 30, 4), rng.uniform(-4, 4, (4, 2)), rng.uniform(9, 18, (4, 2))
    out = mc.to_numpy(affine(x, angle, shift, center))
    assert out.shape == (4, 2, 28, 28) and out.dtype == np.float32
    for i in range(4):
        expected = _reference(mc.to_numpy(x[i]), angle[i], shift[i], center[i])
        np.testing.assert_allclose(out[i], expected, atol=2e-6)


def test_whole_pixel_shifts_and_quarter_turns_are_exact(mnist):
    x = as_batch(mnist[0][:2])                                            # (2, 1, 28, 28)
    center = np.full((2, 2), 13.5)
    moved = affine(x, np.zeros(2), np.array([[2.0, -3.0]] * 2), center)
    np.testing.assert_array_equal(moved[:, :, 2:, :25], x[:, :, :26, 3:])
    turned = affine(x, np.full(2, 90.0), np.zeros((2, 2)), center)
    np.testing.assert_allclose(turned, np.rot90(x, axes=(2, 3)), atol=1e-6)   # counter-clockwise


@pytest.mark.parametrize("degrees, translate", [(10, (0.1, 0.1)), (30, (0.5, 0.5)), (0, (0.5, 0.5))])
def test_no_ink_leaves_the_frame(mnist, degrees, translate):
    """The same warp on a copy with a 10-pixel margin puts nothing in that margin: no ink of the
    28x28 result was cut off at its border. The ink's mass stays (bilinear rounding aside)."""
    x = as_batch(mnist[0][:500])
    angle, shift, center = RandomAffine(degrees, translate).get_params(x, np.random.default_rng(0))
    out = affine(x, angle, shift, center)
    roomy = affine(np.pad(x, ((0, 0), (0, 0), (10, 10), (10, 10))), angle, shift, center + 10)
    margin = roomy.copy()
    margin[:, :, 10:-10, 10:-10] = 0
    assert margin.max() < 1e-6
    np.testing.assert_allclose(roomy[:, :, 10:-10, 10:-10], out, atol=1e-6)
    mass = out.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert np.abs(mass - 1).max() < (1e-5 if degrees == 0 else 0.02), np.abs(mass - 1).max()


class _Extreme:
    """A stand-in for a NumPy Generator that always draws the end of the range: u = ``end``."""

    def __init__(self, end):
        self.end = end

    def uniform(self, low, high, size):
        return np.full(size, high if self.end else low)

    def random(self, size):
        return np.full(size, float(self.end))


def test_the_widest_shifts_take_the_ink_right_up_to_the_border(mnist):
    """Upright, the largest shift allowed moves each digit's ink box onto the frame's edge,
    and no further: the range drawn from is as wide as it can be."""
    from minicnn.data.augment import ink_box
    x = as_batch(mnist[0][:200])
    wide = RandomAffine(0, (0.5, 0.5))
    top, _, left, _ = ink_box(wide(x, _Extreme(0)))
    _, bottom, _, right = ink_box(wide(x, _Extreme(1)))
    assert (top == 0).all() and (left == 0).all() and (bottom == 27).all() and (right == 27).all()


def test_an_image_that_fills_the_frame_is_left_as_it_is():
    x = np.zeros((1, 1, 28, 28), np.float32)
    x[0, 0, [0, 27, 5], [3, 20, 0]] = 1.0                                 # ink at three borders
    x[0, 0, 12, 27] = 0.5
    out = RandomAffine(20, (0.2, 0.2))(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)


def test_it_is_reproducible_with_a_seed_and_leaves_its_input_alone(mnist):
    x = as_batch(mnist[0][:64])
    before = x.copy()
    augment = RandomAffine()
    first = augment(x, np.random.default_rng(5))
    np.testing.assert_array_equal(first, augment(x, np.random.default_rng(5)))
    assert not np.array_equal(first, augment(x, np.random.default_rng(6)))
    np.testing.assert_array_equal(x, before)
    assert repr(augment) == "RandomAffine(degrees=10, translate=(0.1, 0.1))"


def test_fit_augments_training_batches_only_and_is_seeded(mnist):
    x, y, x_val, y_val = mnist[0][:256], mnist[1][:256], mnist[0][256:356], mnist[1][256:356]
    seen = []

    def augment(xb, rng):
        seen.append(xb.shape[0])
        return RandomAffine()(xb, rng)

    def train(seed):
        mc.manual_seed(0)
        model = lenet()
        history = fit(model, mc.NLLLoss(), mc.SGD(model.parameters(), lr=0.05, momentum=0.9), x, y,
                      epochs=2, batch_size=64, validation=(x_val, y_val), seed=seed,
                      progress=False, augment=augment)
        return model, history

    model, history = train(seed=0)
    assert seen == [64] * 8 and history.steps == 8                    # training batches, no others
    assert history.val_acc[-1] == evaluate(model, x_val, y_val)[1]     # validation as it is
    again, _ = train(seed=0)
    other, _ = train(seed=1)
    weights = [[mc.to_numpy(p.data) for p in m.parameters()] for m in (model, again, other)]
    for a, b in zip(weights[0], weights[1]):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2]))


@pytest.mark.parametrize("kwargs", [dict(degrees=-1), dict(degrees=200), dict(translate=(0.1,)),
                                    dict(translate=(0.1, 1.5))])
def test_bad_arguments_are_one_clear_sentence(kwargs):
    with pytest.raises(ValueError, match="RandomAffine expected degrees in"):
        RandomAffine(**kwargs)
    with pytest.raises(ValueError, match="fit augment must be a callable"):
        fit(lenet(), mc.NLLLoss(), mc.SGD(lenet().parameters(), lr=0.1), np.zeros((4, 28, 28)),
            np.zeros(4, np.int64), 1, 4, augment="RandomAffine")
