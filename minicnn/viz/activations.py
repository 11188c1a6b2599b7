"""One image through the model: what every layer makes of it (feature maps as grids, flat outputs as bars) and
what it predicts. ``tile`` lays many small images (filters, feature maps, digits) out in one grid."""
import math

import numpy as np

from ..backend import to_numpy
from ..layers import LogSoftmax
from .confusion import class_label
from .extras import clear_figure, colormap
from .probe import image_batch, layer_outputs, predict_image

BARS_UP_TO = 64      # flat outputs up to this length are drawn as bars, longer ones as a grid
GRID_WIDTH = 48      # values per row when a long flat output is folded into a grid


def tile(images, ncols, pad=1):
    """Lay out (N, h, w) images in a grid with ``ncols`` columns, NaN between them: (rows*(h+pad) - pad,
    ncols*(w+pad) - pad). One imshow draws it all, far faster than one matplotlib axes per small image."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return grid


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


def plot_prediction(model, image, classes=None, label=None, fig=None):
    """Draw ``image`` ((H, W), (1, H, W) or (1, 1, H, W)) and a bar per class's probability (``fig.probabilities``,
    (K,)); the predicted class and ``label``, the true one if given, are named in the title, its bar outlined."""
    pixels = to_numpy(image_batch(image))[0]                # (C, H, W)
    probs = predict_image(model, image)                     # (K,)
    k = len(probs)
    if classes is not None and len(classes) != k:
        raise ValueError(f"the model predicts {k} classes but {len(classes)} class names were given")
    pred = int(probs.argmax())
    fig = clear_figure(fig, (9, 3.6))
    ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.8]})
    ax_img.imshow(pixels.mean(axis=0), cmap="gray", vmin=0, vmax=1)
    ax_img.set_axis_off()
    title = f"predicted {class_label(classes, pred)} ({probs[pred]:.1%})"
    if label is not None:
        title += f", true {class_label(classes, int(label))}"
    fig.suptitle(title, fontsize=11)   # above both panels: a fixed-aspect image crowds its own title
    colors = ["tab:orange" if c == pred else "tab:blue" for c in range(k)]
    bars = ax_bar.bar(np.arange(k), probs, color=colors)
    if label is not None:
        bars[int(label)].set(edgecolor="black", linewidth=2)
    ax_bar.set_xticks(np.arange(k), [class_label(classes, c) for c in range(k)],
                      rotation=90 if classes is not None and max(len(str(c)) for c in classes) > 2 else 0)
    ax_bar.set(ylim=(0, 1), ylabel="probability")
    fig.probabilities = probs
    return fig
