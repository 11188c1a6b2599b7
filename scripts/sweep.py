"""Try training settings on the validation set: validation accuracy after every epoch, per seed.

    python scripts/sweep.py DATASET MODEL LR BATCH_SIZE EPOCHS [--seeds 0,1,2] [--augment]
    python scripts/sweep.py mnist lenet 0.05 32 3 --seeds 0,1,2 --augment

DATASET is mnist, fashion or quickdraw (the ten local categories); MODEL lenet or convnet.
SGD with momentum 0.9; the learning rate decays linearly from LR to 0 over the run, as
`minicnn train` does by default. The training set loses the same 5,000 images (split seed 0)
that `minicnn train` holds out, and the settings are judged by the accuracy on those: this
script never loads the test set. Prints one line per seed: the arguments, the seed, the
validation accuracy (%) after each epoch, the seconds spent in training passes, the images per
second and the load average. This is how the defaults of `minicnn train` are chosen
(scripts/results/sweep.txt).
"""
import argparse
import os
import sys
import time

import minicnn as mc
from minicnn.cli_commands import AUGMENTATION, SPLIT_SEED
from minicnn.data import (QUICKDRAW_LOCAL_CATEGORIES, RandomAffine, load_fashion_mnist,
                          load_mnist, load_quickdraw, train_val_split)
from minicnn.models import MODELS
from minicnn.train import fit, linear_decay

parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1])
parser.add_argument("dataset", choices=("mnist", "fashion", "quickdraw"))
parser.add_argument("model", choices=sorted(MODELS))
parser.add_argument("lr", type=float)
parser.add_argument("batch_size", type=int)
parser.add_argument("epochs", type=int)
parser.add_argument("--seeds", default="0", help="comma-separated seeds (initial weights, order)")
parser.add_argument("--augment", default=None, const=f"{AUGMENTATION['degrees']:g},"
                    f"{AUGMENTATION['translate'][0]:g}", nargs="?", metavar="DEGREES,TRANSLATE",
                    help="RandomAffine(degrees, (translate, translate)); alone: --augment's amount")
parser.add_argument("--val-size", type=int, default=5000)
args = parser.parse_args()

R = os.environ.get("MINICNN_DATA_DIR",
                   os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
x, y = {"mnist": lambda: load_mnist(R, False), "fashion": lambda: load_fashion_mnist(R, False),
        "quickdraw": lambda: load_quickdraw(QUICKDRAW_LOCAL_CATEGORIES, 10000, R, False)
        }[args.dataset]()[:2]                                   # the training set only
x_train, y_train, x_val, y_val = train_val_split(x, y, args.val_size, SPLIT_SEED)
augment = None
if args.augment:
    degrees, translate = (float(v) for v in args.augment.split(","))
    augment = RandomAffine(degrees, (translate, translate))
for seed in (int(s) for s in args.seeds.split(",")):
    mc.manual_seed(seed)
    m = MODELS[args.model]()
    start = time.perf_counter()
    h = fit(m, mc.NLLLoss(), mc.SGD(m.parameters(), lr=args.lr, momentum=0.9), x_train, y_train,
            args.epochs, args.batch_size, validation=(x_val, y_val), seed=seed, progress=False,
            lr_schedule=linear_decay(args.lr), augment=augment)
    print(sys.argv[1:6], augment or "no augmentation", "seed", seed, "val",
          [round(100 * a, 2) for a in h.val_acc], f"train {sum(h.seconds):.0f}s",
          f"{len(x_train) * h.epochs / sum(h.seconds):,.0f} img/s",
          f"wall {time.perf_counter() - start:.0f}s",
          "load " + " ".join(f"{v:.1f}" for v in os.getloadavg()), flush=True)
