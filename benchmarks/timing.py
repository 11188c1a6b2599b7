"""Clocks inside a contender's process: a block of steps, minicnn's layers one by one, a matmul."""
import time

import numpy as np

from .contenders import SEED


def time_block(fn, steps, sync):
    """Seconds for ``steps`` calls of ``fn``, device work included (time.perf_counter)."""
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return time.perf_counter() - start


def _timed(fn, sync, sink):
    def wrapper(*args, **kwargs):
        sync()
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        sync()
        sink.append((time.perf_counter() - start) * 1e3)
        return out
    return wrapper


def layer_times(contender, steps):
    """Milliseconds per layer, forward and backward, timed inside real training steps.

    Each layer's ``forward``/``backward`` (and the loss's and the optimiser's) is wrapped
    in a timer on the instance while this runs, so the training step itself is the
    usual one. The first step is a warm-up and is dropped. Returns medians over steps:
    {"rows": [{"layer": "0: Conv2d", "forward_ms", "backward_ms"}], "loss_ms",
    "optimizer_ms", "other_ms" (Python glue, zero_grad, the timers), "step_ms"}.
    """
    layers, sync = contender.layer_steps(), contender.sync
    contender.set_training(True)
    per_layer = [{"forward": [], "backward": []} for _ in layers]
    loss_ms, opt_ms, step_ms = [], [], []
    patched = [(layer, m, per_layer[k][m]) for k, (_, layer) in enumerate(layers)
               for m in ("forward", "backward")]
    patched += [(contender.loss, "forward", loss_ms), (contender.loss, "backward", loss_ms),
                (contender.optimizer, "step", opt_ms)]
    for obj, method, sink in patched:
        setattr(obj, method, _timed(getattr(obj, method), sync, sink))   # shadows the class's method
    try:
        for _ in range(steps + 1):
            step_ms.append(time_block(contender.train_step, 1, sync) * 1e3)
    finally:
        for obj, method, _ in patched:
            vars(obj).pop(method, None)

    def per_step(values, calls=1):   # the loss is called twice a step (forward, backward): add them
        return np.add.reduceat(np.asarray(values), np.arange(0, len(values), calls))[1:]  # no warm-up

    fwd = [per_step(t["forward"]) for t in per_layer]
    bwd = [per_step(t["backward"]) for t in per_layer]
    loss, opt, step = per_step(loss_ms, calls=2), per_step(opt_ms), per_step(step_ms)
    other = step - loss - opt - sum(fwd) - sum(bwd)
    rows = [dict(layer=f"{i}: {type(layer).__name__}", forward_ms=float(np.median(fwd[k])),
                 backward_ms=float(np.median(bwd[k]))) for k, (i, layer) in enumerate(layers)]
    return dict(rows=rows, loss_ms=float(np.median(loss)), optimizer_ms=float(np.median(opt)),
                other_ms=float(np.median(other)), step_ms=float(np.median(step)), steps=steps)


def matmul_gflops(contender, sizes, repeats):
    """{library: {"n": GFLOP/s}}: the best of ``repeats`` float32 n x n products (2 n^3 FLOPs)."""
    rng = np.random.default_rng(SEED)
    result = {}
    for n in sizes:
        a = rng.random((n, n), dtype=np.float32)
        b = rng.random((n, n), dtype=np.float32)
        for lib, (mul, sync) in contender.matmul_kernels(a, b).items():
            mul()                                                    # warm-up
            best = min(time_block(mul, 1, sync) for _ in range(repeats))
            result.setdefault(lib, {})[str(n)] = 2 * n ** 3 / best / 1e9
    return result
