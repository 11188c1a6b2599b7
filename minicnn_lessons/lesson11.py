"""Lesson 11: speed. The solution of the FLOP-count exercise, and its check.

The check runs the version that answered on convolutions chosen to catch the usual mistakes and
prints one ✓ line per case when all of them pass. When one fails it prints a ✗ line for each case
that failed, with a hint where the mistake is recognisable, and lists the cases that were right.
"""
from . import Report, call, whose

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def conv2d_flops(conv, input_shape):
    """FLOPs of ``conv``'s forward for one image of shape input_shape = (C_in, H, W).

    conv: a minicnn.Conv2d (in_channels, out_channels, kernel_size=(KH, KW), stride=(SH, SW),
    padding=(PH, PW), bias: a Parameter, or None without one). Returns an int.
    """
    _, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    oh = (h + 2 * ph - kh) // sh + 1                             # output rows (lesson 01)
    ow = (w + 2 * pw - kw) // sw + 1
    per_output = 2 * conv.in_channels * kh * kw                  # a multiply and an add per weight
    if conv.bias is not None:
        per_output += 1                                          # and one add for the bias
    return conv.out_channels * oh * ow * per_output


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _counts(conv, input_shape):
    """The right count (minicnn's own, Conv2d.flops) and the counts of the usual mistakes, each
    with the sentence that names it."""
    c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    co, oh, ow = conv.output_shape(input_shape)
    k = c * kh * kw                                              # weights per output value
    b = 1 if conv.bias is not None else 0
    outputs = co * oh * ow
    right = int(conv.flops(input_shape, (co, oh, ow)))
    mistakes = [
        (outputs * (k + b), "That is one FLOP per weight: a multiply-add is two operations, a multiply "
                            "and an add, so each output costs 2 * C_in * KH * KW (plus 1 for the bias)"),
        (outputs * k, "That is one FLOP per weight and no bias: a multiply-add counts as 2 FLOPs"),
        (outputs * (2 * kh * kw + b), "That leaves out the input channels: each output value sums "
                                      "over all C_in channels of its window, C_in * KH * KW weights"),
        (co * h * w * (2 * k + b), "That counts an output for every input pixel (H x W); count the "
                                   "output's pixels, OH = (H + 2 PH - KH) // SH + 1 and the same for OW"),
        (co * (h + 2 * ph - kh + 1) * (w + 2 * pw - kw + 1) * (2 * k + b),
         "That output size ignores the stride: OH = (H + 2 PH - KH) // SH + 1"),
        (co * (h - kh + 1) * (w - kw + 1) * (2 * k + b) if h >= kh and w >= kw else None,
         "That output size ignores the padding: OH = (H + 2 PH - KH) // SH + 1"),
        (outputs * (2 * k + 2 * b), "The bias is one addition per output value, 1 FLOP, not a "
                                    "multiply-add"),
        (outputs * (2 * k + 1), "This convolution has no bias (conv.bias is None): no addition for it"),
        (outputs * 2 * k, "The bias adds 1 FLOP to every output value (it is there: conv.bias is not "
                          "None)"),
        (outputs * 2 * k + co * b, "The bias is added to every output value, OH * OW times per filter, "
                                   "not once per filter"),
        (outputs * (2 * k - 1 + b), "Counted exactly, K products need K - 1 additions; minicnn's "
                                    "convention (and most papers') counts each multiply-add as 2 "
                                    "FLOPs: 2 * C_in * KH * KW per output, plus 1 for the bias"),
        (co * oh * ow * (2 * c * kh * kh + b), "That uses KH twice; the kernel is KH x KW"),
        (co * ((h + 2 * ph - kh) / sh + 1) * ((w + 2 * pw - kw) / sw + 1) * (2 * k + b),
         "That output size uses true division (/): a window that would stick out of the padded "
         "input is no output, so OH = (H + 2 PH - KH) // SH + 1, with //"),
    ]
    return right, [(value, text) for value, text in mistakes if value is not None and value != right]


def check_conv2d_flops(fn):
    """lenet's two convolutions, and two with a non-square kernel, stride and padding, with and
    without a bias; the expected count is minicnn's own (Conv2d.flops, the summary's column)."""
    import minicnn as mc

    cases = [  # (name, conv, input_shape)
        ("lenet's first convolution, Conv2d(1, 24, 5) on (1, 28, 28)", mc.Conv2d(1, 24, 5), (1, 28, 28)),
        ("lenet's second convolution, Conv2d(24, 24, 5) on (24, 12, 12)", mc.Conv2d(24, 24, 5), (24, 12, 12)),
        ("Conv2d(3, 16, (3, 5), stride=2, padding=1, bias=False) on (3, 32, 30)",
         mc.Conv2d(3, 16, (3, 5), stride=2, padding=1, bias=False), (3, 32, 30)),
        ("Conv2d(8, 4, 3, stride=(2, 1), padding=(0, 2)) on (8, 15, 11)",
         mc.Conv2d(8, 4, 3, stride=(2, 1), padding=(0, 2)), (8, 15, 11)),
    ]
    report = Report(fn)
    for name, conv, input_shape in cases:
        right, mistakes = _counts(conv, input_shape)
        got, error = call(fn, conv, input_shape)
        if error:
            report.add(False, f"{whose(fn)} failed on {name}: {error}", name)
            continue
        try:
            as_int = int(got)
            whole = float(got) == as_int
        except (TypeError, ValueError, OverflowError):
            report.add(False, f"{whose(fn)} returned {got!r} for {name}, expected a whole number", name)
            continue
        if not whole:
            report.add(False, f"{whose(fn)} returned {got!r} for {name}, not a whole number: a FLOP "
                              f"count is an integer (use // for the output size)", name)
            continue
        if as_int == right:
            report.add(True, f"{whose(fn)} is right for {name}: {right:,} FLOPs", name)
            continue
        hint = next((text for value, text in mistakes if value == got), "")
        if not hint and as_int * 2 == right:
            hint = "That is exactly half: a multiply-add counts as 2 FLOPs"
        report.add(False, f"{whose(fn)} gives {as_int:,} FLOPs for {name}, minicnn counts {right:,}"
                          + (f". {hint}" if hint else ""), name)
    return report.close()
