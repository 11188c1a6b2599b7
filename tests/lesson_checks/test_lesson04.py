"""Lesson 04's checks pass the solutions and give ✗ for the typical wrong answers."""
import numpy as np
import pytest

from minicnn_lessons import lesson04


def test_the_solution_passes_every_check(learner, verdict):
    for name in ("numerical_gradient", "conv2d_backward_loops", "col2im"):
        fn = learner(getattr(lesson04, name), name, "lesson04")
        passed, text = verdict(getattr(lesson04, f"check_{name}"), fn)
        assert passed, text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    for name in ("numerical_gradient", "conv2d_backward_loops", "col2im"):
        passed, text = verdict(getattr(lesson04, f"check_{name}"),
                               learner(lambda *args, **kwargs: None, name, "lesson04"))
        assert not passed


# ---- numerical_gradient --------------------------------------------------------------------------


def one_sided(f, x, eps=1e-6):
    grad = np.zeros(x.shape)
    f_x = f(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        grad.flat[i] = (f(x) - f_x) / eps
        x.flat[i] = old
    return grad


def one_sided_backwards(f, x, eps=1e-6):
    grad = np.zeros(x.shape)
    f_x = f(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old - eps
        grad.flat[i] = (f_x - f(x)) / eps
        x.flat[i] = old
    return grad


def divided_by_eps_not_two_eps(f, x, eps=1e-6):
    return 2 * lesson04.numerical_gradient(f, x, eps)


def never_puts_x_back(f, x, eps=1e-6):
    grad = np.zeros(x.shape)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        f_plus = f(x)
        x.flat[i] = old - eps
        grad.flat[i] = (f_plus - f(x)) / (2 * eps)
    return grad


def indexes_x_like_a_vector(f, x, eps=1e-6):
    grad = np.zeros(x.shape)
    for i in range(x.size):
        old = x[i]
        x[i] = old + eps
        f_plus = f(x)
        x[i] = old - eps
        grad[i] = (f_plus - f(x)) / (2 * eps)
        x[i] = old
    return grad


def test_the_one_sided_difference_is_caught_and_named(learner, verdict):
    """The issue: a one-sided difference passed lesson 04's old check. Central passes, one-sided fails."""
    for wrong in (one_sided, one_sided_backwards):
        passed, text = verdict(lesson04.check_numerical_gradient,
                               learner(wrong, "numerical_gradient", "lesson04"))
        assert not passed and "one-sided difference" in text and "order eps" in text
        assert text.count("✗") == 2          # both cases, the cubic and the default eps


@pytest.mark.parametrize("wrong, says", [
    (divided_by_eps_not_two_eps, "twice the derivative"),
    (never_puts_x_back, "changed x in place"),
    (indexes_x_like_a_vector, "raised IndexError"),
])
def test_other_wrong_numerical_gradients_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson04.check_numerical_gradient, learner(wrong, "numerical_gradient", "lesson04"))
    assert not passed and says in text


# ---- conv2d_backward_loops -----------------------------------------------------------------------


def conv_backward(grad_y, x, weight, stride, padding, *, use_stride=True, crop=True,
                  bias_over="all", weight_over="all"):
    """The solution, with one of the typical mistakes switched on."""
    N, C, H, W = x.shape
    O, _, KH, KW = weight.shape
    OH, OW = grad_y.shape[2:]
    P, S = padding, (stride if use_stride else 1)
    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dx_pad, dweight = np.zeros_like(x_pad), np.zeros_like(weight)
    for n in range(N):
        for o in range(O):
            for i in range(OH):
                for j in range(OW):
                    g = grad_y[n, o, i, j]
                    rows, cols = slice(i * S, i * S + KH), slice(j * S, j * S + KW)
                    if weight_over == "all" or (weight_over == "first sample" and n == 0):
                        dweight[o] += g * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += g * weight[o]
    dbias = {"all": grad_y.sum(axis=(0, 2, 3)), "positions": grad_y.sum(axis=(2, 3)),
             "first sample": grad_y[0].sum(axis=(1, 2)), "batch": grad_y.sum(axis=0)}[bias_over]
    dx = dx_pad[:, :, P:P + H, P:P + W] if crop else dx_pad
    return dx, dweight, dbias


def weight_assigned_per_sample(grad_y, x, weight, stride, padding):
    dweight = None
    for n in range(x.shape[0]):
        dx, dweight, dbias = conv_backward(grad_y[n:n + 1], x[n:n + 1], weight, stride, padding)
    return conv_backward(grad_y, x, weight, stride, padding)[0], dweight, grad_y.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("mistake, says", [
    ({"use_stride": False}, "Right with stride 1, wrong with stride 2"),
    ({"crop": False}, "crop it from dx"),
    ({"bias_over": "positions"}, "dbias has one number per output channel"),
    ({"bias_over": "batch"}, "dbias has one number per output channel"),
    ({"bias_over": "first sample"}, "dbias sums over the whole batch"),
    ({"weight_over": "first sample"}, "dweight adds up every sample's"),
])
def test_wrong_convolution_backwards_are_caught(learner, verdict, mistake, says):
    def wrong(grad_y, x, weight, stride=1, padding=0):
        return conv_backward(grad_y, x, weight, stride, padding, **mistake)
    passed, text = verdict(lesson04.check_conv2d_backward_loops,
                           learner(wrong, "conv2d_backward_loops", "lesson04"))
    assert not passed and says in text


def test_a_convolution_backward_that_forgets_the_stride_fails_every_strided_case(learner, verdict):
    def wrong(grad_y, x, weight, stride=1, padding=0):
        return conv_backward(grad_y, x, weight, stride, padding, use_stride=False)
    passed, text = verdict(lesson04.check_conv2d_backward_loops,
                           learner(wrong, "conv2d_backward_loops", "lesson04"))
    assert not passed and text.count("✗") == 3 and "right for: stride 1, padding 0" in text


def test_a_dweight_assigned_per_sample_is_caught(learner, verdict):
    passed, text = verdict(lesson04.check_conv2d_backward_loops,
                           learner(weight_assigned_per_sample, "conv2d_backward_loops", "lesson04"))
    assert not passed and "ADDED to dweight" in text


# ---- col2im --------------------------------------------------------------------------------------


def col2im_assigning(dcols, x_pad_shape, KH, KW, stride=1):
    N, C, HP, WP = x_pad_shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    windows = dcols.reshape(N, OH, OW, C, KH, KW)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for i in range(OH):
        for j in range(OW):
            dx_pad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW] = windows[:, i, j]
    return dx_pad


def col2im_without_the_stride(dcols, x_pad_shape, KH, KW, stride=1):
    N, C, HP, WP = x_pad_shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    windows = dcols.reshape(N, OH, OW, C, KH, KW)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for i in range(OH):
        for j in range(OW):
            dx_pad[:, :, i:i + KH, j:j + KW] += windows[:, i, j]
    return dx_pad


def col2im_from_np_empty(dcols, x_pad_shape, KH, KW, stride=1):
    """Starts from np.empty and clears only the first window: pixels outside it keep leftovers."""
    N, C, HP, WP = x_pad_shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    windows = dcols.reshape(N, OH, OW, C, KH, KW)
    dx_pad = np.full(x_pad_shape, 7.0, dtype=dcols.dtype)    # np.empty's leftovers, made visible
    for i in range(OH):
        for j in range(OW):
            rows, cols = slice(i * stride, i * stride + KH), slice(j * stride, j * stride + KW)
            if i == 0 and j == 0:
                dx_pad[:, :, rows, cols] = 0
            dx_pad[:, :, rows, cols] += windows[:, i, j]
    return dx_pad


def col2im_in_window_order_c_last(dcols, x_pad_shape, KH, KW, stride=1):
    N, C, HP, WP = x_pad_shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    windows = dcols.reshape(N, OH, OW, KH, KW, C).transpose(0, 1, 2, 5, 3, 4)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for i in range(OH):
        for j in range(OW):
            dx_pad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW] += windows[:, i, j]
    return dx_pad


def col2im_in_float64(dcols, x_pad_shape, KH, KW, stride=1):
    return lesson04.col2im(dcols.astype(np.float64), x_pad_shape, KH, KW, stride)


@pytest.mark.parametrize("wrong, says", [
    (col2im_assigning, "Wrong only where windows overlap"),
    (col2im_without_the_stride, "it starts at row i * stride"),
    (col2im_from_np_empty, "some pixels are in no window"),
    (col2im_in_window_order_c_last, "3x3 windows, stride 1"),
    (col2im_in_float64, "returned dtype float64"),
])
def test_wrong_col2ims_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson04.check_col2im, learner(wrong, "col2im", "lesson04"))
    assert not passed and says in text


def test_the_check_of_col2im_is_the_transpose_of_im2col():
    """The check's reference is computed from im2col alone: <im2col(x), c> = <x, col2im(c)>."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    c = rng.standard_normal(lesson04.im2col(x, 3, 2, 2).shape)
    ref = lesson04._im2col_transpose(c, x.shape, 3, 2, 2)
    assert np.isclose(np.sum(lesson04.im2col(x, 3, 2, 2) * c), np.sum(x * ref))
    assert np.allclose(ref, lesson04.col2im(c, x.shape, 3, 2, 2))


def in_float32(f, x, eps=1e-6):
    """Right differences, stored in float32: the docstring asks for float64."""
    return lesson04.numerical_gradient(f, x, eps).astype(np.float32)


def test_a_float32_gradient_is_refused(learner, verdict):
    passed, text = verdict(lesson04.check_numerical_gradient,
                           learner(in_float32, "numerical_gradient", "lesson04"))
    assert not passed and "expected float64" in text and "Central differences need float64" in text, text
