"""The weights of a Conv2d layer as pictures, and the mosaic that lays small images out in a grid."""
import math

import numpy as np

from ..backend import to_numpy
from ..layers import Conv2d
from .extras import clear_figure, colormap
from .probe import layer_index


def tile(images, ncols, pad=1):
    """Lay out (N, h, w) images in a grid with ``ncols`` columns, NaN between them.

    (N, h, w) -> (rows*(h+pad) - pad, ncols*(w+pad) - pad); one imshow draws the
    whole grid, which is far faster than one matplotlib axes per small image.
    """
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return grid


def conv_layer(model, layer):
    """The Conv2d at index ``layer`` of a Sequential (or ``model`` itself if it is a Conv2d)."""
    if isinstance(model, Conv2d):
        return model, "Conv2d"
    found = model.layers[layer_index(model, layer)]
    if not isinstance(found, Conv2d):
        convs = [i for i, lay in enumerate(model.layers) if isinstance(lay, Conv2d)]
        raise ValueError(f"layer {layer} is {type(found).__name__}, not a Conv2d; the model's "
                         f"Conv2d layers are at indices {convs}")
    return found, f"layer {layer_index(model, layer)} Conv2d"


def plot_filters(model, layer=0, mode="channels", fig=None):
    """Draw the filters of a Conv2d layer (weight (C_out, C_in, KH, KW)) as a grid of images.

    One input channel (the first layer): one KH x KW image per filter.
    Several input channels (deeper layers), chosen by ``mode``:
      "channels": every (filter, input channel) kernel; row = filter, column = input channel;
      "mean":     each filter averaged over its input channels, one image per filter.
    Red is a positive weight, blue a negative one, on one colour scale for the whole layer.
    Returns the matplotlib Figure.
    """
    conv, name = conv_layer(model, layer)
    if mode not in ("channels", "mean"):
        raise ValueError(f'plot_filters mode must be "channels" or "mean", received {mode!r}')
    w = to_numpy(conv.weight.data).astype(np.float64)          # (C_out, C_in, KH, KW)
    c_out, c_in, kh, kw = w.shape
    if c_in == 1:
        grid = tile(w[:, 0], ncols=math.ceil(math.sqrt(c_out * 1.5)))
        title = f"{name}: {c_out} filters of {kh}x{kw}"
    elif mode == "channels":
        grid = tile(w.reshape(c_out * c_in, kh, kw), ncols=c_in)
        title = (f"{name}: {c_out} filters x {c_in} input channels of {kh}x{kw}\n"
                 "(row = filter, column = input channel)")
    else:
        grid = tile(w.mean(axis=1), ncols=math.ceil(math.sqrt(c_out * 1.5)))
        title = f"{name}: {c_out} filters of {kh}x{kw},\neach averaged over its {c_in} input channels"
    height = 7.0 * grid.shape[0] / grid.shape[1]
    fig = clear_figure(fig, (7.5, max(2.5, min(height + 0.8, 12))))
    ax = fig.add_subplot()
    bound = np.abs(w).max() or 1.0
    shown = ax.imshow(grid, cmap=colormap("RdBu_r"), vmin=-bound, vmax=bound, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, shrink=0.8, label="weight")
    return fig
