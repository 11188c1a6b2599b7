"""The small speed choices a layer could make, each timed against the plain way, and what the
saving is worth: its share of one lenet training step (at batch 64 unless the case says).

    python -m benchmarks.micro          # under a minute, one thread (NumPy and BLAS)

A trick stays in a teaching layer only if it saves 5% or more of that step (the rule of the
Module-contract issue), and then with the plain formula in a comment beside it: max pooling's
running argmax, the bias gradient as ones @ g, and Conv2d's input gradient built one kernel
offset at a time (timed at batch 64 and, since the issue also asks for speed there, at 256, where
the plain dcols is 39 MB). The im2col of one channel lives in the shared windowing
primitive. Each case runs in a process of its own; median of many calls, both ways
interleaved; results to stdout and appended to benchmarks/results/micro.txt.
"""
import itertools
import subprocess
import sys
import time

import numpy as np

from minicnn.windows import col2im, im2col

from . import results_log

OUT = results_log.RESULTS / "micro.txt"


def _median_ms(fns, calls=200, rounds=5):
    """{name: median ms per call}, the candidates interleaved round by round."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def cases():
    rng = np.random.default_rng(0)
    # lenet's first ReLU, after the pooling: (64, 24, 12, 12), an NCHW view of NHWC memory
    x = rng.standard_normal((64, 12, 12, 24), dtype=np.float32).transpose(0, 3, 1, 2)

    def relu_zeros():
        y = np.zeros_like(x)
        return np.maximum(x, y, out=y)
    yield "ReLU forward, (64, 24, 12, 12)", 64, {"np.maximum(x, 0) (layers/activation.py)": lambda: np.maximum(x, 0),
                                             "maximum against zeros_like(x)": relu_zeros}
    # the bias gradients of lenet's two convolutions at batch 64: g is (M, C_out)
    gs = [rng.standard_normal((m, 24), dtype=np.float32) for m in (64 * 24 * 24, 64 * 8 * 8)]
    yield "Conv2d bias gradients, lenet's two convolutions", 64, {
        "g.sum(axis=0)": lambda: [g.sum(axis=0) for g in gs],
        "ones @ g (layers/conv.py)": lambda: [np.ones(len(g), dtype=g.dtype) @ g for g in gs]}
    # the input gradient of lenet's second convolution, g (N*8*8, 24), W (24, 24, 5, 5): at batch 64, the rule's,
    # and at 256, where the Module-contract issue asks for speed too
    w_mat = rng.standard_normal((25 * 24, 24), dtype=np.float32)        # (KH*KW*C_in, C_out), as Conv2d saves it
    w_by_offset = w_mat.reshape(25, 24, 24)                             # (KH*KW, C_in, C_out)
    for n in (64, 256):
        g = rng.standard_normal((n * 8 * 8, 24), dtype=np.float32)

        def all_at_once(g=g, n=n):
            dcols = (g @ w_mat.T).reshape(n, 8, 8, 25, 24)              # (M, KH*KW*C_in)
            return col2im(lambda k: dcols[:, :, :, k], (5, 5), (1, 1), (n, 12, 12, 24))

        def by_offset(g=g, n=n):
            return col2im(lambda k: (g @ w_by_offset[k].T).reshape(n, 8, 8, 24), (5, 5), (1, 1), (n, 12, 12, 24))
        yield f"Conv2d input gradient, lenet's second convolution, batch {n}", n, {
            "dcols = g @ w_mat.T, then col2im over its blocks": all_at_once,
            "col2im(k -> g @ w_by_offset[k].T) (layers/conv.py)": by_offset}
    # im2col of a one-channel 28x28 batch, 5x5 windows: rows (M, 25) vs offset-major (25, M)
    img = rng.random((64, 28, 28, 1), dtype=np.float32)
    s0, s1, s2, s3 = img.strides

    def rows():
        w = np.lib.stride_tricks.as_strided(img, (64, 24, 24, 5, 5, 1), (s0, s1, s2, s1, s2, s3))
        return w.reshape(64 * 24 * 24, 25)

    yield "im2col, one channel, (64, 28, 28) 5x5", 64, {
        "window by window (rows of 25)": rows,
        "offset-major copy, transposed": lambda: im2col(img, (5, 5), (1, 1))}  # windows.im2col
    # Dropout mask for convnet's (64, 1600) activations, p = 0.5
    u = rng.random((64, 1600), dtype=np.float32)

    def mask_float32():
        m = (u >= 0.5).astype(np.float32)
        m *= np.float32(2.0)
        return m
    yield "Dropout mask, (64, 1600)", 64, {"bool * float32 scalar (layers/activation.py)":
                                       lambda: (u >= 0.5) * np.float32(2.0),
                                       "astype(float32), then *= float32": mask_float32}
    # max pooling's argmax, lenet's first pool (64, 24, 24, 24) NHWC, 2x2: lesson 02's argmax over
    # each window's four numbers, the plain running maximum, and what layers/pooling.py does
    a = rng.standard_normal((64, 24, 24, 24), dtype=np.float32)
    views = [a[:, i::2, j::2, :] for i in range(2) for j in range(2)]

    def argmax_windows():
        cols = im2col(a, (2, 2), (2, 2)).reshape(-1, 4, 24)
        return cols.argmax(axis=1).reshape(64, 12, 12, 24), cols.max(axis=1).reshape(64, 12, 12, 24)

    def masked():
        y, arg = views[0].copy(), np.zeros(views[0].shape, np.intp)
        for k, v in enumerate(views[1:], start=1):
            better = v > y
            arg[better] = k
            np.maximum(y, v, out=y)
        return arg, y

    def running_max():
        y, arg = views[0].copy(), np.zeros(views[0].shape, np.uint8)
        for k, v in enumerate(views[1:], start=1):
            better = v > y
            np.maximum(y, v, out=y)
            np.maximum(arg, better * np.uint8(k), out=arg)
        return arg, y
    yield "MaxPool2d forward, (64, 24, 24, 24) 2x2", 64, {
        "argmax over im2col windows (lesson 02)": argmax_windows, "arg[better] = k": masked,
        "maximum(arg, better * k) (layers/pooling.py)": running_max}


def lenet_step_ms(batch=64):
    """One training step of lenet at ``batch`` (zero_grad, forward, NLL, backward, SGD), in ms."""
    import minicnn as mc                  # SGD makes the allocator setting, as in a training script
    from minicnn.models import lenet
    mc.manual_seed(0)
    model, loss = lenet(), mc.NLLLoss()
    opt = mc.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    y = np.arange(batch) % 10

    def step():
        opt.zero_grad()
        loss.forward(model(x), y)
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    return _median_ms({"step": step}, calls=20)["step"]


def run_case(index):
    """Time case ``index`` and a lenet step in this process: lines of the report."""
    title, batch, fns = next(itertools.islice(cases(), index, None))   # the cases after it are never built
    ms, step = _median_ms(fns), lenet_step_ms(batch)
    base = next(iter(ms.values()))
    lines = [title]
    lines += [f"  {name:48s} {t:8.3f} ms  ({base / t:4.1f}x the first; saves {100 * (base - t) / step:+5.1f}% "
              f"of a {step:.1f} ms lenet step at batch {batch})" for name, t in ms.items()]
    return lines


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print("\n".join(run_case(int(sys.argv[2]))), flush=True)
        return None
    lines = [results_log.header("python -m benchmarks.micro",
                                f"NumPy {np.__version__}, BLAS on one thread, each case in its own process")]
    for index in range(len(list(cases()))):
        out = subprocess.run([sys.executable, "-m", "benchmarks.micro", "--case", str(index)],
                             capture_output=True, text=True, check=True)
        print(out.stdout, end="", flush=True)
        lines += out.stdout.splitlines()
    return results_log.append(OUT, lines)


if __name__ == "__main__":
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1)
    except ImportError:
        pass
    main()
