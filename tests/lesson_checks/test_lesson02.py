"""Lesson 02's checks pass the solutions and catch the typical wrong ReLU and pooling backwards.

Each wrong answer below is a mistake a learner makes; its test asserts that the check returns
False and that its ✗ line names the aspect that is wrong (and, where the lesson offers one, the hint).
Among them, the two the issue names: a max pool that sends the gradient to every tied maximum, and
an average pool that ignores the padded zeros.
"""
import numpy as np
import pytest

from minicnn_lessons import exercise, lesson02


def failed_lines(text):
    """The ✗ lines: what failed, and the hint for a recognised mistake."""
    return "\n".join(line for line in text.splitlines() if line.startswith("✗"))


def assert_caught(passed, text, aspect, message):
    assert not passed
    assert aspect in failed_lines(text) and message in failed_lines(text), text


def fed_by(forward):
    """check_maxpool2d_backward, with the forward whose caches feed the backward."""
    def check_maxpool2d_backward(fn):
        return lesson02.check_maxpool2d_backward(fn, forward)
    return check_maxpool2d_backward


def test_the_solutions_pass_every_check(learner, verdict):
    for name in ["relu_backward", "maxpool2d_forward", "avgpool2d_backward"]:
        passed, text = verdict(getattr(lesson02, f"check_{name}"),
                               learner(getattr(lesson02, name), name, "lesson02"))
        assert passed and text.startswith(f"✓ your {name}"), text
    passed, text = verdict(fed_by(learner(lesson02.maxpool2d_forward, "maxpool2d_forward", "lesson02")),
                           learner(lesson02.maxpool2d_backward, "maxpool2d_backward", "lesson02"))
    assert passed and "on the caches of your maxpool2d_forward" in text, text


def test_unwritten_exercises_are_checked_as_the_solutions_and_say_so(verdict):
    @exercise("lesson02")
    def maxpool2d_forward(x, k, stride):
        return None

    @exercise("lesson02")
    def maxpool2d_backward(grad_y, cache):
        return None

    passed, text = verdict(lesson02.check_maxpool2d_forward, maxpool2d_forward)
    assert passed and "✓ the solution's maxpool2d_forward" in text
    passed, text = verdict(fed_by(maxpool2d_forward), maxpool2d_backward)
    assert passed and "✓ the solution's maxpool2d_backward" in text
    assert "on the caches of the solution's maxpool2d_forward" in text


def test_a_written_backward_is_fed_by_the_written_forward(learner, verdict):
    """A learner's forward with its own cache format works with that learner's backward."""
    def forward(x, k, stride):                                  # cache: (window-relative winners, ...)
        y, (indices, shape) = lesson02.maxpool2d_forward(x, k, stride)
        return y, ("my own format", indices, shape)

    def backward(grad_y, cache):
        return lesson02.maxpool2d_backward(grad_y, cache[1:])

    passed, text = verdict(fed_by(learner(forward, "maxpool2d_forward", "lesson02")),
                           learner(backward, "maxpool2d_backward", "lesson02"))
    assert passed, text


# ---------------------------------------------------------------- ReLU backward

WRONG_RELUS = {
    "x >= 0: gradient passed at exactly 0": (lambda g, x: g * (x >= 0), "exactly x = 0", "x >= 0"),
    "y = max(x, 0) >= 0: always true": (lambda g, x: g * (np.maximum(x, 0) >= 0), "x < 0", "passes everywhere"),
    "the derivative alone, without grad_y": (lambda g, x: (x > 0).astype(g.dtype), "x < 0", "chain rule"),
    "grad_y times y instead of the derivative": (lambda g, x: g * np.maximum(x, 0), "x < 0", "not y"),
    "float64 for float32": (lambda g, x: g * (x > 0).astype(np.float64), "float32", "dtype float64"),
}


@pytest.mark.parametrize("name", WRONG_RELUS)
def test_a_wrong_relu_backward_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_RELUS[name]
    assert_caught(*verdict(lesson02.check_relu_backward, learner(wrong, "relu_backward", "lesson02")),
                  aspect, message)


# ---------------------------------------------------------------- max pooling

def maxpool_forward_with(which="first", stride_used=lambda k, s: s, relative=False, dtype=None):
    """A max-pool forward with the PyTorch-style cache and one mistake."""
    def forward(x, k, stride):
        s = stride_used(k, stride)
        N, C, H, W = x.shape
        OH, OW = (H - k) // s + 1, (W - k) // s + 1
        y = np.zeros((N, C, OH, OW), dtype=dtype or x.dtype)
        indices = np.zeros((N, C, OH, OW), dtype=np.int64)
        for n in range(N):
            for c in range(C):
                for i in range(OH):
                    for j in range(OW):
                        window = x[n, c, i * s:i * s + k, j * s:j * s + k]
                        best = None
                        for u in range(k):
                            for v in range(k):      # ">" keeps the first maximum, ">=" the last
                                if best is None or (window[u, v] >= window[best] if which == "last"
                                                    else window[u, v] > window[best]):
                                    best = (u, v)
                        y[n, c, i, j] = window[best]
                        indices[n, c, i, j] = (best[0] * k + best[1] if relative
                                               else (i * s + best[0]) * W + (j * s + best[1]))
        return y, (indices, x.shape)
    return forward


WRONG_MAXPOOL_FORWARDS = {
    "the last maximum on ties": (maxpool_forward_with(which="last"), "first maximum", "LAST maximum"),
    "indices counted inside the window": (maxpool_forward_with(relative=True), "first maximum",
                                          "inside the window"),
    "stride ignored (windows moved by k)": (maxpool_forward_with(stride_used=lambda k, s: k), "overlapping",
                                            "returned shape"),
    "float64 for float32": (maxpool_forward_with(dtype=np.float64), "float32", "dtype float64"),
}


@pytest.mark.parametrize("name", WRONG_MAXPOOL_FORWARDS)
def test_a_wrong_maxpool_forward_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_MAXPOOL_FORWARDS[name]
    assert_caught(*verdict(lesson02.check_maxpool2d_forward, learner(wrong, "maxpool2d_forward", "lesson02")),
                  aspect, message)


def test_a_forward_that_returns_only_y_is_caught(learner, verdict):
    def forward(x, k, stride):
        return lesson02.maxpool2d_forward(x, k, stride)[0]
    passed, text = verdict(lesson02.check_maxpool2d_forward, learner(forward, "maxpool2d_forward", "lesson02"))
    assert not passed and "pair (y, cache)" in text


def every_tied_maximum():
    """The classic: the cache keeps x, and the backward sends each gradient to (window == its max)."""
    def forward(x, k, stride):
        y, _ = lesson02.maxpool2d_forward(x, k, stride)
        return y, (x, k, stride)

    def backward(grad_y, cache):
        x, k, s = cache
        dx = np.zeros_like(x, dtype=grad_y.dtype)
        for i in range(grad_y.shape[2]):
            for j in range(grad_y.shape[3]):
                window = x[:, :, i * s:i * s + k, j * s:j * s + k]
                mask = window == window.max(axis=(2, 3), keepdims=True)
                dx[:, :, i * s:i * s + k, j * s:j * s + k] += mask * grad_y[:, :, i:i + 1, j:j + 1]
        return dx
    return backward, forward


def overwriting():
    """A backward that uses fancy-index += : a pixel that wins two windows keeps one gradient."""
    def backward(grad_y, cache):
        indices, (N, C, H, W) = cache
        dx = np.zeros((N, C, H * W), dtype=grad_y.dtype)
        n = np.arange(N)[:, None, None, None]
        c = np.arange(C)[None, :, None, None]
        dx[n, c, indices] += grad_y
        return dx.reshape(N, C, H, W)
    return backward, lesson02.maxpool2d_forward


def ones_downstream():
    """A backward that sends 1 to every winner, forgetting the upstream gradient."""
    def backward(grad_y, cache):
        return lesson02.maxpool2d_backward(np.ones_like(grad_y), cache)
    return backward, lesson02.maxpool2d_forward


def float64_backward():
    def backward(grad_y, cache):
        return lesson02.maxpool2d_backward(grad_y.astype(np.float64), cache)
    return backward, lesson02.maxpool2d_forward


WRONG_MAXPOOL_BACKWARDS = {
    "gradient to every tied maximum": (every_tied_maximum(), "ties", "every tied maximum"),
    "gradient to the last maximum (the forward's choice)":
        ((lesson02.maxpool2d_backward, maxpool_forward_with(which="last")), "ties", "LAST tied maximum"),
    "overlapping windows overwrite instead of adding": (overwriting(), "overlapping", "np.add.at"),
    "the upstream gradient forgotten": (ones_downstream(), "goes to its maximum", "differ"),
    "float64 for float32": (float64_backward(), "float32", "dtype float64"),
}


@pytest.mark.parametrize("name", WRONG_MAXPOOL_BACKWARDS)
def test_a_wrong_maxpool_backward_is_caught(name, learner, verdict):
    (backward, forward), aspect, message = WRONG_MAXPOOL_BACKWARDS[name]
    assert_caught(*verdict(fed_by(learner(forward, "maxpool2d_forward", "lesson02")),
                           learner(backward, "maxpool2d_backward", "lesson02")), aspect, message)


# ---------------------------------------------------------------- average pooling backward

def avg_backward_with(divide="k*k", add=True, unpad=True, stride_used=lambda k, s: s):
    def backward(grad_y, x_shape, k, stride, padding):
        N, C, H, W = x_shape
        s = stride_used(k, stride)
        dx = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=grad_y.dtype)
        real = np.zeros(dx.shape[2:])
        real[padding:padding + H, padding:padding + W] = 1
        for i in range(grad_y.shape[2]):
            for j in range(grad_y.shape[3]):
                count = {"k*k": k * k, "k": k, "real": real[i * s:i * s + k, j * s:j * s + k].sum()}[divide]
                share = grad_y[:, :, i:i + 1, j:j + 1] / count
                if add:
                    dx[:, :, i * s:i * s + k, j * s:j * s + k] += share
                else:
                    dx[:, :, i * s:i * s + k, j * s:j * s + k] = share
        return dx[:, :, padding:padding + H, padding:padding + W] if unpad else dx
    return backward


def repeat_backward(grad_y, x_shape, k, stride, padding):
    """np.repeat: right only when the windows tile the input exactly, without padding."""
    return np.repeat(np.repeat(grad_y, k, axis=2), k, axis=3) / (k * k)


WRONG_AVGPOOL_BACKWARDS = {
    "the padded zeros ignored (count_include_pad=False)": (avg_backward_with(divide="real"), "padding",
                                                          "count_include_pad=False"),
    "divided by k instead of k*k": (avg_backward_with(divide="k"), "shared equally", "divided by k"),
    "overlapping windows overwrite": (avg_backward_with(add=False), "overlapping", "one share"),
    "the padding not cut away": (avg_backward_with(unpad=False), "padding", "returned shape"),
    "np.repeat (only right for windows that tile)": (repeat_backward, "in no window", "returned shape"),
    "stride taken as k": (avg_backward_with(stride_used=lambda k, s: k), "overlapping", "differ"),
}


@pytest.mark.parametrize("name", WRONG_AVGPOOL_BACKWARDS)
def test_a_wrong_avgpool_backward_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_AVGPOOL_BACKWARDS[name]
    assert_caught(*verdict(lesson02.check_avgpool2d_backward, learner(wrong, "avgpool2d_backward", "lesson02")),
                  aspect, message)
