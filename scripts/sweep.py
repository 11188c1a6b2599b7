"""Try training settings on the real data sets: test accuracy after every epoch, per seed.

    python scripts/sweep.py DATASET MODEL LR BATCH_SIZE EPOCHS [SEEDS]
    python scripts/sweep.py mnist lenet 0.05 32 3 0,1,2

DATASET is mnist, fashion or quickdraw (the ten local categories); MODEL lenet or convnet.
SGD with momentum 0.9; the learning rate decays linearly from LR to 0 over the run, as
`minicnn train` does by default. Prints one line per seed: the arguments, the seed, the
test accuracy (%) after each epoch and the wall time. This is how the defaults of
`minicnn train` were chosen (scripts/results/sweep.txt).
"""
import os
import sys
import time

import minicnn as mc
from minicnn.data import (QUICKDRAW_LOCAL_CATEGORIES, load_fashion_mnist, load_mnist,
                          load_quickdraw)
from minicnn.models import MODELS
from minicnn.train import fit, linear_decay

if len(sys.argv) not in (6, 7):
    sys.exit(__doc__)
ds, model, lr, bs, ep = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
seeds = [int(s) for s in sys.argv[6].split(",")] if len(sys.argv) > 6 else [0]
R = os.environ.get("MINICNN_DATA_DIR",
                   os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
data = {"mnist": lambda: load_mnist(R, False), "fashion": lambda: load_fashion_mnist(R, False),
        "quickdraw": lambda: load_quickdraw(QUICKDRAW_LOCAL_CATEGORIES, 10000, R, False)[:4]}[ds]()
for seed in seeds:
    mc.manual_seed(seed); m = MODELS[model](); t = time.time()
    h = fit(m, mc.NLLLoss(), mc.SGD(m.parameters(), lr=lr, momentum=0.9), data[0], data[1], ep, bs,
            validation=(data[2], data[3]), seed=seed, progress=False, lr_schedule=linear_decay(lr))
    print(sys.argv[1:6], "seed", seed, [round(100 * a, 2) for a in h.val_acc], f"{time.time()-t:.0f}s", flush=True)
