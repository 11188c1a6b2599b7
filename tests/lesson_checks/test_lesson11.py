"""Lesson 11's check passes the solution and gives ✗ for the typical wrong FLOP counts."""
import pytest

from minicnn_lessons import lesson11


def _sizes(conv, input_shape):
    c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    return c, h, w, kh, kw, sh, sw, ph, pw, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _bias(conv):
    return 1 if conv.bias is not None else 0


def no_factor_two(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * (c * kh * kw + _bias(conv))


def forgets_the_input_channels(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * (2 * kh * kw + _bias(conv))


def uses_the_input_size(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * h * w * (2 * c * kh * kw + _bias(conv))


def forgets_the_stride(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * (h + 2 * ph - kh + 1) * (w + 2 * pw - kw + 1) * (2 * c * kh * kw + _bias(conv))


def bias_as_a_multiply_add(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * (2 * c * kh * kw + 2 * _bias(conv))


def bias_always(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * (2 * c * kh * kw + 1)


def bias_never(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * 2 * c * kh * kw


def bias_once_per_filter(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * 2 * c * kh * kw + conv.out_channels * _bias(conv)


def square_kernel_assumed(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, oh, ow = _sizes(conv, input_shape)
    return conv.out_channels * oh * ow * (2 * c * kh * kh + _bias(conv))


def true_division(conv, input_shape):
    c, h, w, kh, kw, sh, sw, ph, pw, _, _ = _sizes(conv, input_shape)
    oh, ow = (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1
    return conv.out_channels * oh * ow * (2 * c * kh * kw + _bias(conv))


def test_the_solution_passes(learner, verdict):
    passed, text = verdict(lesson11.check_conv2d_flops,
                           learner(lesson11.conv2d_flops, "conv2d_flops", "lesson11"))
    assert passed and text.count("✓") == 4, text


def test_the_solution_agrees_with_the_summary_of_the_zoo_models():
    from minicnn import Conv2d
    from minicnn.models import convnet, lenet
    for model in (lenet(), convnet()):
        shape = (1, 28, 28)
        for layer, (_, out, _, flops) in zip(model.layers, model.summary_rows(shape)):
            if isinstance(layer, Conv2d):
                assert lesson11.conv2d_flops(layer, shape) == flops
            shape = out


@pytest.mark.parametrize("wrong, says", [
    (no_factor_two, "a multiply-add is two operations"),
    (forgets_the_input_channels, "leaves out the input channels"),
    (uses_the_input_size, "count the output's pixels"),
    (forgets_the_stride, "ignores the stride"),
    (bias_as_a_multiply_add, "1 FLOP, not a multiply-add"),
    (bias_always, "has no bias"),
    (bias_never, "The bias adds 1 FLOP"),
    (bias_once_per_filter, "not once per filter"),
    (square_kernel_assumed, "uses KH twice"),
    (true_division, "true division"),
])
def test_wrong_flop_counts_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson11.check_conv2d_flops, learner(wrong, "conv2d_flops", "lesson11"))
    assert not passed and says in text, text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson11.check_conv2d_flops,
                           learner(lambda conv, shape: None, "conv2d_flops", "lesson11"))
    assert not passed and "expected a whole number" in text
