"""gradcheck must catch broken backwards, not just bless correct ones.

Every broken layer here sits next to the real layer it breaks: the real one passes
on the same input, so a failure can only come from the planted bug.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import reference


def smooth_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def separated_input(shape, seed=0):
    """A random permutation of well-separated values: no ties or near-ties for max-pooling."""
    n = int(np.prod(shape))
    return ((np.random.default_rng(seed).permutation(n) - n // 2) * 0.1).reshape(shape)


# -- deliberately broken layers ---------------------------------------------------------------
class ZeroInputGradConv(mc.Conv2d):
    """Parameter gradients right, input gradient all zeros."""

    def backward(self, grad_output):
        return 0 * super().backward(grad_output)


class ScaledConv(mc.Conv2d):
    """One gradient 1% too large: ``which`` is "input", "weight" or "bias"."""

    def __init__(self, *args, which, **kwargs):
        super().__init__(*args, **kwargs)
        self.which = which

    def backward(self, grad_output):
        dx = super().backward(grad_output)
        if self.which == "input":
            return dx * 1.01
        getattr(self, self.which).grad *= 1.01
        return dx


class NoBiasGradLinear(mc.Linear):
    """Forgets the bias gradient: leaves it None (``zeros=False``) or all zeros."""

    def __init__(self, *args, zeros, **kwargs):
        super().__init__(*args, **kwargs)
        self.zeros = zeros

    def backward(self, grad_output):
        dx = super().backward(grad_output)
        self.bias.grad = 0 * self.bias.grad if self.zeros else None
        return dx


def misrouted_maxpool(kernel_size, route_to):
    """A max-pool (forward, backward) pair whose backward sends each gradient to the wrong element.

    route_to="min": the window's smallest element; "corner": the window's top-left element.
    """
    layer = mc.MaxPool2d(kernel_size)
    saved = {}

    def forward(x):
        saved["x"] = mc.to_numpy(x)
        return layer.forward(x)

    def backward(grad_output):
        x, g = saved["x"], mc.to_numpy(grad_output)
        if route_to == "min":
            return mc.asarray(reference.maxpool2d_backward_naive(g, -x, kernel_size))
        dx = np.zeros_like(x)                                      # (N, C, H, W)
        oh, ow = g.shape[2], g.shape[3]
        dx[:, :, 0:oh * kernel_size:kernel_size, 0:ow * kernel_size:kernel_size] = g
        return mc.asarray(dx)

    return forward, backward


class OnesBlindLogSoftmax(mc.LogSoftmax):
    """dx = 1 - softmax * sum(dy): right when dy is all ones, wrong for any other dy."""

    def forward(self, x):
        self._y = super().forward(x)
        return self._y

    def backward(self, grad_output):
        xp = mc.get_array_module(grad_output)
        return xp.ones_like(grad_output) - xp.exp(self._y) * grad_output.sum(axis=self.dim, keepdims=True)


# (real layer, broken layer, input, the tensor whose gradient is wrong)
CONV = dict(in_channels=2, out_channels=3, kernel_size=(3, 2), stride=(2, 1), padding=1)
CASES = [
    pytest.param(lambda: mc.Conv2d(**CONV), lambda: ZeroInputGradConv(**CONV),
                 smooth_input((2, 2, 5, 4)), "input", id="zero-input-gradient"),
    pytest.param(lambda: mc.Conv2d(**CONV), lambda: ScaledConv(**CONV, which="input"),
                 smooth_input((2, 2, 5, 4)), "input", id="input-gradient-x1.01"),
    pytest.param(lambda: mc.Conv2d(**CONV), lambda: ScaledConv(**CONV, which="weight"),
                 smooth_input((2, 2, 5, 4)), "weight", id="weight-gradient-x1.01"),
    pytest.param(lambda: mc.Conv2d(**CONV), lambda: ScaledConv(**CONV, which="bias"),
                 smooth_input((2, 2, 5, 4)), "bias", id="bias-gradient-x1.01"),
    pytest.param(lambda: mc.Linear(5, 3), lambda: NoBiasGradLinear(5, 3, zeros=True),
                 smooth_input((4, 5)), "bias", id="bias-gradient-zeros"),
    pytest.param(lambda: mc.Linear(5, 3), lambda: NoBiasGradLinear(5, 3, zeros=False),
                 smooth_input((4, 5)), "bias", id="bias-gradient-missing"),
    pytest.param(lambda: mc.MaxPool2d(2), lambda: misrouted_maxpool(2, "min"),
                 separated_input((2, 2, 4, 6)), "input", id="maxpool-routes-to-min"),
    pytest.param(lambda: mc.MaxPool2d(3), lambda: misrouted_maxpool(3, "corner"),
                 separated_input((1, 2, 6, 6)), "input", id="maxpool-routes-to-corner"),
    pytest.param(lambda: mc.LogSoftmax(dim=1), lambda: OnesBlindLogSoftmax(dim=1),
                 3 * smooth_input((4, 6)), "input", id="logsoftmax-ones-blind"),
]


@pytest.mark.parametrize("real, broken, x, wrong", CASES)
def test_gradcheck_passes_the_real_layer_and_fails_the_broken_one(backend, real, broken, x, wrong):
    mc.manual_seed(0)
    passed = mc.gradcheck(real(), mc.asarray(x))
    assert passed, passed
    assert passed.max_rel_error < 1e-6

    mc.manual_seed(0)                                       # the same weights as the real layer
    failed = mc.gradcheck(broken(), mc.asarray(x))
    assert not failed, f"gradcheck did not catch a broken backward: {failed!r}"
    assert "FAILED" in repr(failed)
    assert any(m.startswith(f"{wrong}:") for m in failed.messages), failed.messages
    for name, err in failed.errors.items():                 # only the planted bug is reported
        if name != wrong:
            assert err < 1e-6, f"{name} should be right, relative error {err:.2e}"


def test_a_1_percent_error_is_reported_with_its_size_and_place(backend):
    mc.manual_seed(0)
    result = mc.gradcheck(ScaledConv(**CONV, which="weight"), mc.asarray(smooth_input((2, 2, 5, 4))))
    name, index, analytic, numerical = result.worst
    assert name == "weight" and len(index) == 4
    assert analytic == pytest.approx(1.01 * numerical, rel=1e-6)
    assert result.errors["weight"] == pytest.approx(0.01 / 1.01, rel=1e-4)   # |1.01g - g| / |1.01g|
    assert result.max_rel_error == result.errors["weight"]


def test_an_upstream_gradient_of_ones_could_not_see_the_logsoftmax_bug(xp):
    """Why gradcheck draws a random upstream gradient: with ones, the broken backward looks right."""
    x = mc.asarray(3 * smooth_input((4, 6)))
    real, broken = mc.LogSoftmax(dim=1), OnesBlindLogSoftmax(dim=1)
    real(x), broken(x)
    ones = xp.ones((4, 6))
    np.testing.assert_allclose(mc.to_numpy(broken.backward(ones)), mc.to_numpy(real.backward(ones)),
                               atol=1e-12)
    g = mc.asarray(smooth_input((4, 6), seed=1))
    assert not np.allclose(mc.to_numpy(broken.backward(g)), mc.to_numpy(real.backward(g)), atol=1e-3)


def test_a_backward_of_the_wrong_shape_fails_with_a_message(backend):
    layer = mc.Flatten()
    result = mc.gradcheck((layer.forward, lambda g: g), mc.asarray(smooth_input((2, 3, 2))))
    assert not result
    assert any("shape" in m for m in result.messages), result.messages


@pytest.mark.parametrize("derivative, ok", [(lambda y: 1 - y * y, True), (lambda y: 1 - y, False)],
                         ids=["right", "wrong"])
def test_gradcheck_of_a_forward_backward_pair(backend, derivative, ok):
    xp = mc.xp()
    saved = {}

    def forward(x):
        saved["y"] = xp.tanh(x)
        return saved["y"]

    result = mc.gradcheck((forward, lambda g: g * derivative(saved["y"])), mc.asarray(smooth_input((3, 4))))
    assert bool(result) is ok, result


def test_gradcheck_leaves_the_layer_it_checks_untouched(backend):
    mc.manual_seed(0)
    layer = mc.Conv2d(2, 3, 3)
    before = {n: mc.to_numpy(p.data) for n, p in layer.named_parameters()}
    assert mc.gradcheck(layer, mc.asarray(smooth_input((1, 2, 4, 4))))
    for n, p in layer.named_parameters():
        assert p.data.dtype == np.float32, f"gradcheck changed {n} to {p.data.dtype}"
        np.testing.assert_array_equal(mc.to_numpy(p.data), before[n])
        assert p.grad is None


def test_gradcheck_catches_a_loss_whose_backward_forgets_the_batch_mean(backend):
    class SumNotMeanCrossEntropy(mc.CrossEntropyLoss):
        def forward(self, logits, target):
            self.batch_size = logits.shape[0]
            return super().forward(logits, target)

        def backward(self):
            return super().backward() * self.batch_size

    logits, target = mc.asarray(smooth_input((4, 5))), mc.asarray(np.array([0, 4, 2, 2]))
    assert mc.gradcheck(mc.CrossEntropyLoss(), logits, target)
    assert not mc.gradcheck(SumNotMeanCrossEntropy(), logits, target)


def test_a_nan_gradient_fails(backend):
    # NaN compares False with everything: a tolerance test written as "diff > limit" would let it pass.
    result = mc.gradcheck((lambda x: 2 * x, lambda g: g * float("nan")), mc.asarray(smooth_input((2, 3))))
    assert not result
    assert result.messages == ["input: 6 of 6 elements differ (worst relative error inf)"], result.messages
