"""The small speed choices inside the layers, each timed against the plain alternative.

    python -m benchmarks.micro          # a few seconds, one thread (NumPy and BLAS)

Each "why" comment in the layers that says one way is faster than another points
here. Shapes are those of lenet/convnet at batch 64. Median of many calls, both
ways interleaved; results to stdout and appended to benchmarks/results/micro.txt.
"""
import time

import numpy as np

from minicnn.windows import im2col

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
    yield "ReLU forward, (64, 24, 12, 12)", {"np.maximum(x, 0)": lambda: np.maximum(x, 0),
                                             "maximum against zeros_like(x)": relu_zeros}
    # bias gradient of a convolution without the ones column: g is (M, C_out)
    for m, c in ((4096, 24), (7744, 64)):
        g = rng.standard_normal((m, c), dtype=np.float32)
        yield f"Conv2d bias gradient, g of ({m}, {c})", {
            "g.sum(axis=0)": lambda g=g: g.sum(axis=0),
            "ones @ g": lambda g=g: np.ones(len(g), dtype=g.dtype) @ g}
    # im2col of a one-channel 28x28 batch, 5x5 windows: rows (M, 25) vs offset-major (25, M)
    img = rng.random((64, 28, 28, 1), dtype=np.float32)
    s0, s1, s2, s3 = img.strides

    def rows():
        w = np.lib.stride_tricks.as_strided(img, (64, 24, 24, 5, 5, 1), (s0, s1, s2, s1, s2, s3))
        return w.reshape(64 * 24 * 24, 25)

    yield "im2col, one channel, (64, 28, 28) 5x5", {
        "window by window (rows of 25)": rows,
        "offset-major copy, transposed": lambda: im2col(img, (5, 5), (1, 1))}  # windows.im2col
    # Dropout mask for convnet's (64, 1600) activations, p = 0.5
    u = rng.random((64, 1600), dtype=np.float32)

    def mask_float64():
        return ((u >= 0.5) * (1.0 / (1.0 - 0.5))).astype(np.float32, copy=False)

    def mask_float32():
        m = (u >= 0.5).astype(np.float32)
        m *= np.float32(2.0)
        return m
    yield "Dropout mask, (64, 1600)", {"bool * python float, then astype": mask_float64,
                                       "astype(float32), then *= float32": mask_float32}


def main():
    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(limits=1)
    except ImportError:
        limit = None
    lines = [results_log.header("python -m benchmarks.micro", f"NumPy {np.__version__}, BLAS on one thread")]
    try:
        for title, fns in cases():
            ms = _median_ms(fns)
            base = next(iter(ms.values()))
            lines.append(title)
            lines += [f"  {name:36s} {t:8.3f} ms  ({base / t:4.1f}x the first)" for name, t in ms.items()]
            print("\n".join(lines[-1 - len(ms):]), flush=True)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    return results_log.append(OUT, lines)


if __name__ == "__main__":
    main()
