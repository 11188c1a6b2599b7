"""The drawing pad's check: MNIST test digits redrawn off-centre on a 280x280 pad, then preprocessed.

    python scripts/drawn_digits.py MODEL.npz [MODEL.npz ...] [--n 2000] [--seed 0]
    python scripts/drawn_digits.py runs/plain.npz runs/augmented.npz

Each of the first N MNIST test digits is scaled up (bicubic) to a random size between 90
and 280 pixels and pasted at a random place on an empty 280x280 pad, as a drawing on
the pad would be; ``preprocess_drawing`` turns it back into a 28x28 digit, as the pad
does before it asks the network. For every model the script prints the accuracy on the
N digits as they are and as redrawn, and appends the lines to
scripts/results/drawn_digits.txt with the date and the load average. The same digits
and places are drawn for every model (one seed).
"""
import argparse
import datetime
import os
from pathlib import Path

import numpy as np
from PIL import Image

import minicnn as mc
from minicnn.data import load_mnist
from minicnn.drawing import preprocess_drawing
from minicnn.train import evaluate

PAD = 280
RESULTS = Path(__file__).resolve().parent / "results" / "drawn_digits.txt"


def redraw(digits, seed):
    """uint8 (N, 28, 28) digits -> float32 (N, 1, 28, 28): each scaled up, pasted somewhere on
    an empty PAD x PAD canvas and preprocessed as the drawing pad does."""
    rng = np.random.default_rng(seed)
    out = []
    for digit in digits:
        size = int(rng.integers(90, PAD + 1))
        big = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
        pad = Image.new("L", (PAD, PAD))
        pad.paste(big, (int(rng.integers(0, PAD - size + 1)), int(rng.integers(0, PAD - size + 1))))
        out.append(preprocess_drawing(pad))
    return np.stack(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", metavar="MODEL", help="models saved by minicnn train")
    parser.add_argument("--n", type=int, default=2000, help="how many test digits (the first N)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sizes and places")
    args = parser.parse_args()
    _, _, x_test, y_test = load_mnist(download=False)
    x, y = x_test[:args.n], y_test[:args.n]
    redrawn = redraw(x, args.seed)
    lines = [f"# {datetime.datetime.now().isoformat(timespec='seconds')}, load average "
             f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}: the first {args.n:,} MNIST test "
             f"digits, redrawn with seed {args.seed}"]
    for path in args.models:
        model = mc.Sequential.load(path)
        plain, drawn = evaluate(model, x, y)[1], evaluate(model, redrawn, y)[1]
        meta = model.metadata
        lines.append(f"{path} (augment: {meta.get('augment')}, {meta.get('epochs')} epochs, batch "
                     f"{meta.get('batch_size')}): as they are {100 * plain:.2f}%, redrawn on the "
                     f"pad {100 * drawn:.2f}%")
    print("\n".join(lines))
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
