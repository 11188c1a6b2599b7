"""Solutions for lesson 11: speed."""


def conv2d_flops(in_channels, out_channels, kernel_size, output_size, bias=True):
    """Forward FLOPs of one image through a Conv2d; kernel_size=(KH, KW), output_size=(OH, OW)."""
    kh, kw = kernel_size
    oh, ow = output_size
    per_output = 2 * in_channels * kh * kw + (1 if bias else 0)   # multiply-adds, then the bias
    return per_output * out_channels * oh * ow
