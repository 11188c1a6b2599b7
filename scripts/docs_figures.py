"""Draw the README's figure of a trained network: learned filters and activation maps.

    python scripts/docs_figures.py                          # reads runs/mnist-lenet.npz (make train)
    python scripts/docs_figures.py MODEL.npz --out docs/filters-and-activations.png

Top: one MNIST test digit and the 24 filters of lenet's first convolution.
Below: what the first and the second convolution make of that digit, each map
through the ReLU that follows it. Needs the viz extra (matplotlib).
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "runs" / "mnist-lenet.npz"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "filters-and-activations.png"))
    ap.add_argument("--index", type=int, default=0, help="which MNIST test digit to show")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.model):
        sys.exit(f"docs_figures: {args.model} does not exist: run `make train` first")

    import minicnn as mc
    from minicnn.data import load_mnist
    from minicnn.layers import Conv2d
    from minicnn.viz import layer_outputs, tile
    from minicnn.viz.extras import new_figure

    model = mc.Sequential.load(args.model)
    x_test = load_mnist(download=False)[2]
    image = x_test[args.index]
    outputs = layer_outputs(model, image)
    convs = [i for i, layer in enumerate(model.layers) if isinstance(layer, Conv2d)]
    weights = mc.to_numpy(model.layers[convs[0]].weight.data)[:, 0]         # (24, 5, 5)

    fig = new_figure((9, 5.6))
    grid = fig.add_gridspec(3, 5, height_ratios=[1.9, 1.8, 1.75])
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(image, cmap="gray")
    ax.set_title(f"a test digit ({image.shape[0]}x{image.shape[1]})", fontsize=9)
    ax.set_axis_off()
    ax = fig.add_subplot(grid[0, 1:])
    bound = np.abs(weights).max()
    ax.imshow(tile(weights, ncols=12), cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    ax.set_title(f"the {len(weights)} learned 5x5 filters of the first convolution "
                 "(red positive, blue negative)", fontsize=9)
    ax.set_axis_off()
    for row, i in zip((1, 2), convs[:2]):
        maps = np.maximum(outputs[i], 0)                                     # (C, H, W), after ReLU
        ax = fig.add_subplot(grid[row, :])
        ax.imshow(tile(maps, ncols=12), cmap="viridis", interpolation="nearest")
        ax.set_title(f"what convolution {convs.index(i) + 1} makes of it: {maps.shape[0]} maps "
                     f"of {maps.shape[1]}x{maps.shape[2]}, after ReLU", fontsize=9)
        ax.set_axis_off()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
