"""What every layer makes of one image: feature maps as grids, flat outputs as bars."""
import math

import numpy as np

from ..backend import to_numpy
from ..layers import LogSoftmax
from .extras import clear_figure, colormap
from .mosaic import tile
from .probe import image_batch, layer_outputs

BARS_UP_TO = 64      # flat outputs up to this length are drawn as bars, longer ones as a grid
GRID_WIDTH = 48      # values per row when a long flat output is folded into a grid


def plot_activations(model, image, classes=None, fig=None):
    """Draw every layer's output for ``image``, a row each below it: (C, H, W) as C maps on one colour scale,
    (D,) as bars up to 64 values, else in rows of 48. ``fig.layer_outputs`` holds the arrays drawn."""
    pixels = to_numpy(image_batch(image))[0]                 # (C, H, W), validates the shape
    outputs = layer_outputs(model, image)
    kinds = ["maps" if out.ndim == 3 else "bars" if out.size <= BARS_UP_TO else "grid" for out in outputs]
    heights = [2.0] + [{"maps": 2.2, "bars": 1.6, "grid": 1.0}[k] for k in kinds]
    fig = clear_figure(fig, (10, sum(heights) + 0.5))
    axes = fig.subplots(len(heights), 1, gridspec_kw={"height_ratios": heights})
    axes[0].imshow(pixels.mean(axis=0), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"input {tuple(pixels.shape)}", fontsize=9)
    axes[0].set_axis_off()

    for i, (layer, out, kind, ax) in enumerate(zip(model.layers, outputs, kinds, axes[1:])):
        if kind == "maps":
            c, h, w = out.shape
            ax.imshow(tile(out, ncols=min(c, 16)), cmap=colormap("viridis"), interpolation="nearest")
            what = f"{c} maps of {h}x{w}"
        elif kind == "grid":
            folded = np.full(math.ceil(out.size / GRID_WIDTH) * GRID_WIDTH, np.nan)
            folded[:out.size] = out
            ax.imshow(folded.reshape(-1, GRID_WIDTH), cmap=colormap("viridis"), aspect="auto", interpolation="nearest")
            what = f"{out.size} values, {GRID_WIDTH} per row"
        else:
            ax.bar(np.arange(out.size), out, color="tab:blue")
            named = classes is not None and len(classes) == out.size
            if named:
                ax.set_xticks(np.arange(out.size), [str(c) for c in classes], fontsize=7)
            what = f"{out.size} values"
            if isinstance(layer, LogSoftmax):
                top = int(out.argmax())
                what = f"{out.size} log-probabilities, predicted {classes[top] if named else top}"
        ax.set_title(f"layer {i} {type(layer).__name__}: {what}", fontsize=9)
        if kind != "bars":
            ax.set_axis_off()
    fig.layer_outputs = outputs
    return fig
