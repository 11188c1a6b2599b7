"""Lesson 01's checks pass the solutions and catch the typical wrong convolutions and im2cols.

Each wrong answer below is a mistake a learner makes; its test asserts that the check returns
False and that its ✗ line names the aspect that is wrong (and, where the lesson offers one, the hint).
"""
import numpy as np
import pytest

from minicnn_lessons import exercise, lesson01


def failed_lines(text):
    """The ✗ lines: what failed, and the hint for a recognised mistake."""
    return "\n".join(line for line in text.splitlines() if line.startswith("✗"))


def pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


# ---------------------------------------------------------------- wrong four-loop convolutions

def loops(window_of, value=lambda win, w, bias, o: np.sum(win * w) + bias[o], layout="NOHW",
          dtype_of=lambda x: x.dtype, size=out_size, padding_on=True):
    """A four-loop convolution with one piece swapped for a mistake."""
    def conv(x, weight, bias, stride=1, padding=0):
        N, C, H, W = x.shape
        O, _, KH, KW = weight.shape
        OH, OW = size(H, KH, stride, padding), size(W, KW, stride, padding)
        xp = pad(x, padding) if padding_on else x
        y = np.zeros((N, O, OH, OW), dtype=dtype_of(x))
        for n in range(N):
            for o in range(O):
                for i in range(OH):
                    for j in range(OW):
                        window = window_of(xp[n], i, j, stride, KH, KW)
                        y[n, o, i, j] = value(window, weight[o], bias, o)
        return y.transpose(0, 2, 3, 1).copy() if layout == "NHWO" else y
    return conv


def right_window(xn, i, j, s, kh, kw):
    return xn[:, i * s:i * s + kh, j * s:j * s + kw]


WRONG_CONVOLUTIONS = {
    "flipped filter (a true convolution)": (
        loops(lambda xn, i, j, s, kh, kw: right_window(xn, i, j, s, kh, kw)[:, ::-1, ::-1]),
        "not flipped", "true convolution"),
    "stride ignored (windows and size of stride 1)": (
        loops(lambda xn, i, j, s, kh, kw: right_window(xn, i, j, 1, kh, kw),
              size=lambda h, k, s, p: out_size(h, k, 1, p)),
        "stride", "returned shape"),
    "stride applied to the size only (windows start at i, j)": (
        loops(lambda xn, i, j, s, kh, kw: right_window(xn, i, j, 1, kh, kw)),
        "stride", "start at row i, column j"),
    "stride applied wrong (window starts at i + S)": (
        loops(lambda xn, i, j, s, kh, kw: xn[:, i + s - 1:i + s - 1 + kh, j + s - 1:j + s - 1 + kw]),
        "stride", "differ"),
    "padding missing": (
        loops(right_window, size=lambda h, k, s, p: out_size(h, k, s, 0), padding_on=False),
        "padding", "returned shape"),
    "padding in the size, but the input not padded": (
        loops(right_window, padding_on=False), "padding", "raised"),
    "bias not added": (
        loops(right_window, value=lambda win, w, bias, o: np.sum(win * w)), "bias", "has no bias"),
    "bias added to every product of the window": (
        loops(right_window, value=lambda win, w, bias, o: np.sum(win * w + bias[o])), "bias",
        "each of the C*KH*KW"),
    "the first channel's bias everywhere": (
        loops(right_window, value=lambda win, w, bias, o: np.sum(win * w) + bias[0]), "bias", "differ"),
    "output laid out (N, OH, OW, O)": (
        loops(right_window, layout="NHWO"), "not flipped", "(N, OH, OW, O)"),
    "float64 output for a float32 input": (
        loops(right_window, dtype_of=lambda x: np.float64), "float32", "dtype float64"),
}


@pytest.mark.parametrize("name", WRONG_CONVOLUTIONS)
def test_a_wrong_four_loop_convolution_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_CONVOLUTIONS[name]
    passed, text = verdict(lesson01.check_conv2d_loops, learner(wrong, "conv2d_loops", "lesson01"))
    assert not passed
    assert aspect in failed_lines(text) and message in failed_lines(text), text


def test_the_solution_passes_every_check(learner, verdict):
    for check, name in [(lesson01.check_conv2d_loops, "conv2d_loops"), (lesson01.check_im2col, "im2col"),
                        (lesson01.check_conv2d_im2col, "conv2d_im2col")]:
        passed, text = verdict(check, learner(getattr(lesson01, name), name, "lesson01"))
        assert passed and text.startswith(f"✓ your {name}"), text


def test_an_unwritten_exercise_is_checked_as_the_solution_and_says_so(verdict):
    @exercise("lesson01")
    def conv2d_loops(x, weight, bias, stride=1, padding=0):
        return None

    passed, text = verdict(lesson01.check_conv2d_loops, conv2d_loops)
    assert passed and "✓ the solution's conv2d_loops" in text and "your" not in text.split("\n", 1)[1]


def test_a_learner_exception_is_a_cross_not_a_crash(learner, verdict):
    def broken(x, weight, bias, stride=1, padding=0):
        return x @ weight                                   # shapes that do not multiply
    passed, text = verdict(lesson01.check_conv2d_loops, learner(broken, "conv2d_loops", "lesson01"))
    assert not passed and "raised ValueError" in text


# ---------------------------------------------------------------- wrong im2cols

def im2col_with(order="ncij", stride_used=lambda s: s, dtype=None):
    """im2col by slicing, with a mistake in the order of rows or columns, the stride or the dtype."""
    def im2col(x_pad, KH, KW, stride=1):
        N, C, HP, WP = x_pad.shape
        s = stride_used(stride)
        OH, OW = (HP - KH) // s + 1, (WP - KW) // s + 1
        win = np.array([[[x_pad[n, :, i * s:i * s + KH, j * s:j * s + KW] for j in range(OW)]
                         for i in range(OH)] for n in range(N)])            # (N, OH, OW, C, KH, KW)
        if order == "channels last":
            win = win.transpose(0, 1, 2, 4, 5, 3)
        elif order == "rows (i, j, n)":
            win = win.transpose(1, 2, 0, 3, 4, 5)
        elif order == "rows (n, j, i)":
            win = win.transpose(0, 2, 1, 3, 4, 5)
        cols = win.reshape(N * OH * OW, C * KH * KW)
        return cols.astype(dtype) if dtype else cols
    return im2col


WRONG_IM2COLS = {
    "columns in (u, v, c) order": (im2col_with("channels last"), "(c, u, v)", "(u, v, c) order"),
    "rows in (i, j, n) order": (im2col_with("rows (i, j, n)"), "(n, i, j)", "(i, j, n) order"),
    "rows in (n, j, i) order": (im2col_with("rows (n, j, i)"), "(n, i, j)", "(n, j, i) order"),
    "stride ignored": (im2col_with(stride_used=lambda s: 1), "stride", "returned shape"),
    "float64 for a float32 input": (im2col_with(dtype=np.float64), "float32", "dtype float64"),
}


@pytest.mark.parametrize("name", WRONG_IM2COLS)
def test_a_wrong_im2col_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_IM2COLS[name]
    passed, text = verdict(lesson01.check_im2col, learner(wrong, "im2col", "lesson01"))
    assert not passed
    assert aspect in failed_lines(text) and message in failed_lines(text), text


# ---------------------------------------------------------------- wrong im2col convolutions

def conv_im2col_with(reshape="right", w_order="c,u,v", add_bias=True, padding_on=True):
    def conv(x, weight, bias, stride=1, padding=0):
        N, C, H, W = x.shape
        O, _, KH, KW = weight.shape
        p = padding if padding_on else 0
        OH, OW = out_size(H, KH, stride, p), out_size(W, KW, stride, p)
        cols = lesson01.im2col(pad(x, p), KH, KW, stride)                  # (N*OH*OW, C*KH*KW)
        w_mat = weight.reshape(O, -1) if w_order == "c,u,v" else weight.transpose(0, 2, 3, 1).reshape(O, -1)
        y = cols @ w_mat.T + (bias if add_bias else 0)
        if reshape == "straight":
            return y.reshape(N, O, OH, OW)
        return y.reshape(N, OH, OW, O).transpose(0, 3, 1, 2)
    return conv


WRONG_IM2COL_CONVOLUTIONS = {
    "product reshaped straight to (N, O, OH, OW)": (
        conv_im2col_with(reshape="straight"), "not flipped", "reshaped the (N*OH*OW, O) product straight"),
    "filters flattened channels last, columns (c, u, v)": (
        conv_im2col_with(w_order="u,v,c"), "not flipped", "differ"),
    "bias forgotten": (conv_im2col_with(add_bias=False), "bias", "has no bias"),
    "padding forgotten": (conv_im2col_with(padding_on=False), "padding", "returned shape"),
}


@pytest.mark.parametrize("name", WRONG_IM2COL_CONVOLUTIONS)
def test_a_wrong_im2col_convolution_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_IM2COL_CONVOLUTIONS[name]
    passed, text = verdict(lesson01.check_conv2d_im2col, learner(wrong, "conv2d_im2col", "lesson01"))
    assert not passed
    assert aspect in failed_lines(text) and message in failed_lines(text), text


def test_im2col_keeps_the_name_and_signature_lesson_04_imports():
    """Lesson 04 calls lesson01.im2col(x_pad, KH, KW, stride) and multiplies by weight.reshape(O, -1).T."""
    from minicnn.reference import conv2d_forward_naive
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 2))
    cols = lesson01.im2col(pad(x, 1), 3, 2, 2)
    y = (cols @ w.reshape(4, -1).T).reshape(2, 3, 4, 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, conv2d_forward_naive(x, w, None, 2, 1), rtol=1e-12, atol=1e-12)
