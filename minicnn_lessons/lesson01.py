"""Solutions for lesson 01: convolution by hand."""
import numpy as np


def conv2d_loops(x, weight, bias, stride=1, padding=0):
    """x (N, C, H, W), weight (O, C, KH, KW), bias (O,) -> y (N, O, OH, OW), with four loops."""
    N, C, H, W = x.shape
    O, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))   # (N, C, H+2P, W+2P)
    y = np.zeros((N, O, OH, OW), dtype=x.dtype)
    for n in range(N):
        for o in range(O):
            for i in range(OH):
                for j in range(OW):
                    window = x_pad[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]  # (C, KH, KW)
                    y[n, o, i, j] = np.sum(window * weight[o]) + bias[o]
    return y


def im2col(x_pad, KH, KW, stride=1):
    """Padded x (N, C, HP, WP) -> cols (N*OH*OW, C*KH*KW): one row per window, rows in (n, i, j) order."""
    N, C, HP, WP = x_pad.shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    cols = np.zeros((N, OH, OW, C, KH, KW), dtype=x_pad.dtype)
    for i in range(OH):
        for j in range(OW):
            cols[:, i, j] = x_pad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]  # (N, C, KH, KW)
    return cols.reshape(N * OH * OW, C * KH * KW)
