"""Benchmarks: minicnn against PyTorch (and CuPy / CUDA where present), measured fairly.

    python -m benchmarks            # or: minicnn bench; about 3.5 minutes on 2 cores
    python -m benchmarks --quick    # seconds, for tests

For each model and batch size it measures training throughput (full SGD steps),
inference throughput, single-image latency, minicnn's time per layer, peak
memory, and the fraction of the machine's matrix-multiply speed each contender
reaches. Tables go to stdout and to ``<out>/latest.md``; everything to
``latest.json``; the ratios to PyTorch CPU to ``latest.png``.

Fair by construction (benchmarks/README.md has the details):
- one network: the PyTorch model is translated layer by layer from the minicnn
  Sequential (``to_torch``), its weights are copied, and its output is checked
  against minicnn's before anything is timed;
- float32 everywhere (TF32 switched off on CUDA), the same random batch for
  every contender, made once before timing and moved to each device once;
- warm-up steps first; then repetitions interleaved between contenders
  (rep 1: A, B, C; rep 2: A, B, C; ...), medians and spread reported;
- GPU work is synchronised before the clock is read (time.perf_counter).
"""
import argparse
import copy
import datetime
import gc
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, processes
from .backend import KEPT_FREED_MEMORY, get_backend, set_backend, to_numpy
from .layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .losses import NLLLoss
from .models import MODELS
from .optim import SGD
from .sequential import Sequential
from .threads import get_chunk_engine, get_num_threads, set_num_threads

INPUT_SHAPE = (1, 28, 28)        # both zoo models read 28x28 greyscale images
NUM_CLASSES = 10
LR, MOMENTUM = 0.01, 0.9         # the same SGD for every contender
SEED = 0
TRANSLATION_ATOL = 1e-3          # |minicnn - other| on log-probabilities; float32 noise is ~1e-6
TARGET_BLOCK_SECONDS = 0.3       # auto --steps: the fastest contender's timed block lasts at least this
MAX_AUTO_STEPS = 100
PAUSE_SECONDS = 0.15             # between blocks: idle BLAS/OpenMP workers (OpenBLAS spins ~0.1 s) go to sleep
GPU_CONTENDERS = ("minicnn-cupy", "pytorch-cuda")
REFERENCE = "pytorch-cpu"        # ratios are relative to this contender
LABELS = {"minicnn-numpy": "minicnn (NumPy)", "minicnn-cupy": "minicnn (CuPy)",
          "pytorch-cpu": "PyTorch CPU eager", "pytorch-cuda": "PyTorch CUDA eager",
          "jax-cpu": "JAX CPU (jit)"}

# How much work each part does: full runs and --quick runs.
FULL = dict(batch_sizes=(64, 256), repeats=9, warmup=3, latency_warmup=10, latency_calls=30,
            matmul_sizes=(512, 1024, 2048), matmul_repeats=3, layer_steps=5, memory_steps=3)
QUICK = dict(batch_sizes=(8,), repeats=2, warmup=1, latency_warmup=2, latency_calls=3,
             matmul_sizes=(64, 128), matmul_repeats=2, layer_steps=1, memory_steps=1, steps=1)


# -- the same network in PyTorch ---------------------------------------------------------------
def _have_torch():
    return importlib.util.find_spec("torch") is not None


def _torch():
    try:
        import torch
    except ImportError as e:
        raise RuntimeError("this part of the benchmark needs PyTorch, which is not installed: "
                           "pip install torch") from e
    return torch


def to_torch(model, device="cpu"):
    """A ``torch.nn.Sequential`` with the same layers and a copy of the same weights (float32).

    Every minicnn layer type has a PyTorch twin with the same arguments and the same
    weight layout, so the translation is one line per layer.
    """
    torch = _torch()
    nn = torch.nn
    layers = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2d):
            t = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                          layer.padding, bias=layer.bias is not None)
        elif isinstance(layer, Linear):
            t = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        elif isinstance(layer, MaxPool2d):
            t = nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        elif isinstance(layer, AvgPool2d):  # padded zeros count in the mean, in both
            t = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, count_include_pad=True)
        elif isinstance(layer, ReLU):
            t = nn.ReLU()
        elif isinstance(layer, Flatten):
            t = nn.Flatten()
        elif isinstance(layer, LogSoftmax):
            t = nn.LogSoftmax(dim=layer.dim)
        elif isinstance(layer, Dropout):
            t = nn.Dropout(layer.p)
        else:
            raise ValueError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch translation; "
                             "expected Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear, LogSoftmax "
                             "or Dropout")
        with torch.no_grad():
            for name, p in layer.named_parameters():
                getattr(t, name).copy_(torch.from_numpy(to_numpy(p.data).astype(np.float32)))
        layers.append(t)
    net = nn.Sequential(*layers).to(device=device, dtype=torch.float32)
    net.train(model.training)
    return net


# -- contenders: one object per framework, with the same five operations ------------------------
class MinicnnContender:
    """minicnn on NumPy ("cpu") or CuPy ("gpu")."""

    def __init__(self, backend):
        self.name = f"minicnn-{backend}"
        self.device = "cpu" if backend == "numpy" else "gpu"

    def _put(self, a):
        if self.device == "cpu":
            return a
        import cupy
        return cupy.asarray(a)

    def setup(self, model, x, y):
        """Take a copy of ``model`` (same weights) and put the batch on this device, once."""
        self.model = copy.deepcopy(model)
        if self.device == "gpu":
            self.model.to("gpu")
        self.loss = NLLLoss()
        self.optimizer = SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = self._put(x), self._put(y)

    def set_training(self, mode):
        self.model.train(mode)

    def train_step(self):
        self.optimizer.zero_grad()
        self.loss.forward(self.model.forward(self.x), self.y)   # a float, like PyTorch's loss.item()
        self.model.backward(self.loss.backward(), input_grad=False)
        self.optimizer.step()

    def infer_step(self):
        self.model.forward(self.x)

    def predict(self, images):
        """NumPy images in, NumPy log-probabilities out (host-device copies included)."""
        return to_numpy(self.model.forward(self._put(images)))

    def sync(self):
        if self.device == "gpu":
            import cupy
            cupy.cuda.get_current_stream().synchronize()

    def free(self):
        """Drop the model and batch, and (GPU) hand cached blocks back so peaks start afresh."""
        self.model = self.loss = self.optimizer = self.x = self.y = None
        if self.device == "gpu":
            import cupy
            cupy.get_default_memory_pool().free_all_blocks()

    def device_peak_bytes(self):
        if self.device == "cpu":
            return None
        import cupy  # the pool only grows, so what it holds now is the peak it reserved since free()
        return int(cupy.get_default_memory_pool().total_bytes())


class TorchContender:
    """PyTorch eager mode on the CPU (its default threads) or on CUDA."""

    def __init__(self, device):
        self.name = f"pytorch-{device}"
        self.device = "cpu" if device == "cpu" else "gpu"
        self.torch_device = device
        if device == "cuda":      # float32 really means float32, as in minicnn: no TF32 shortcuts
            torch = _torch()
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

    def setup(self, model, x, y):
        torch = _torch()
        self.torch = torch
        self.net = to_torch(model, self.torch_device)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LR, momentum=MOMENTUM)
        self.x = torch.from_numpy(x).to(self.torch_device)
        self.y = torch.from_numpy(y).to(self.torch_device)

    def set_training(self, mode):
        self.net.train(mode)

    def train_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.nll_loss(self.net(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        loss.item()                                               # the loss as a float, as minicnn gives it

    def infer_step(self):
        with self.torch.no_grad():
            self.net(self.x)

    def predict(self, images):
        with self.torch.no_grad():
            return self.net(self.torch.from_numpy(images).to(self.torch_device)).cpu().numpy()

    def sync(self):
        if self.torch_device == "cuda":
            self.torch.cuda.synchronize()

    def free(self):
        self.net = self.optimizer = self.x = self.y = None
        if self.torch_device == "cuda":
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def device_peak_bytes(self):
        if self.torch_device == "cpu":
            return None
        return int(self.torch.cuda.max_memory_reserved())     # since free()


# -- the same network in JAX -------------------------------------------------------------------
def to_jax(model):
    """(params, apply): the same network as a pure JAX function, with a copy of the weights (float32).

    ``apply(params, x, train, key)`` maps an NCHW batch to the network's output;
    ``params`` holds one dict of arrays per layer (empty for layers without weights).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    steps, params = [], []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2d):
            (sh, sw), (ph, pw) = layer.stride, layer.padding

            def conv(h, p, train, key, sh=sh, sw=sw, ph=ph, pw=pw):
                h = lax.conv_general_dilated(h, p["weight"], (sh, sw), [(ph, ph), (pw, pw)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
                return h + p["bias"][None, :, None, None] if "bias" in p else h
            steps.append(conv)
        elif isinstance(layer, (MaxPool2d, AvgPool2d)):
            (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
            window, strides = (1, 1, kh, kw), (1, 1, sh, sw)
            pads = [(0, 0), (0, 0), (ph, ph), (pw, pw)]
            if isinstance(layer, MaxPool2d):
                steps.append(lambda h, p, train, key, w=window, s=strides, q=pads:
                             lax.reduce_window(h, -jnp.inf, lax.max, w, s, q))
            else:  # padded zeros count in the mean, as in minicnn and PyTorch's default
                steps.append(lambda h, p, train, key, w=window, s=strides, q=pads, n=kh * kw:
                             lax.reduce_window(h, 0.0, lax.add, w, s, q) / n)
        elif isinstance(layer, ReLU):
            steps.append(lambda h, p, train, key: jnp.maximum(h, 0))
        elif isinstance(layer, Flatten):
            steps.append(lambda h, p, train, key: h.reshape(h.shape[0], -1))
        elif isinstance(layer, Linear):
            steps.append(lambda h, p, train, key: h @ p["weight"].T + p["bias"] if "bias" in p
                         else h @ p["weight"].T)
        elif isinstance(layer, LogSoftmax):
            steps.append(lambda h, p, train, key, d=layer.dim: jax.nn.log_softmax(h, axis=d))
        elif isinstance(layer, Dropout):
            def dropout(h, p, train, key, rate=layer.p, index=i):
                if not train or rate == 0.0:
                    return h
                keep = jax.random.bernoulli(jax.random.fold_in(key, index), 1.0 - rate, h.shape)
                return jnp.where(keep, h / (1.0 - rate), 0.0)
            steps.append(dropout)
        else:
            raise ValueError(f"to_jax: layer {i} ({type(layer).__name__}) has no JAX translation")
        params.append({name: jnp.asarray(to_numpy(p.data).astype(np.float32))
                       for name, p in layer.named_parameters()})

    def apply(params, x, train, key):
        for step, p in zip(steps, params):
            x = step(x, p, train, key)
        return x
    return params, apply


class JaxContender:
    """JAX on the CPU: the network as one function, compiled with jax.jit (XLA), its default threads."""

    name, device = "jax-cpu", "cpu"

    def setup(self, model, x, y):
        import jax
        import jax.numpy as jnp
        self.jax = jax
        self.params, apply = to_jax(model)
        self.velocity = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        self.training = model.training
        self.key = jax.random.PRNGKey(SEED)
        cpu = jax.devices("cpu")[0]
        self.x, self.y = jax.device_put(x, cpu), jax.device_put(y, cpu)

        def loss_fn(params, x, y, key, train):                   # NLL of log-probabilities, mean
            out = apply(params, x, train, key)
            return -jnp.mean(jnp.take_along_axis(out, y[:, None], axis=1))

        def step(params, velocity, x, y, key, train):            # torch.optim.SGD's rule, as minicnn
            key, sub = jax.random.split(key)
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y, sub, train)
            velocity = jax.tree_util.tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
            params = jax.tree_util.tree_map(lambda p, v: p - LR * v, params, velocity)
            return params, velocity, key, loss
        self._step = jax.jit(step, static_argnums=5)             # one compiled step per mode
        self._infer = jax.jit(lambda params, x: apply(params, x, False, None))
        self._last = None

    def set_training(self, mode):
        self.training = bool(mode)

    def train_step(self):
        self.params, self.velocity, self.key, loss = self._step(self.params, self.velocity,
                                                                self.x, self.y, self.key, self.training)
        float(loss)                                               # the loss as a float, as minicnn gives it

    def infer_step(self):
        self._last = self._infer(self.params, self.x)
        self._last.block_until_ready()

    def predict(self, images):
        return np.asarray(self._infer(self.params, self.jax.numpy.asarray(images)))

    def sync(self):
        if self._last is not None:
            self._last.block_until_ready()

    def free(self):
        self.params = self.velocity = self.x = self.y = self._last = None

    def device_peak_bytes(self):
        return None


def make_contender(name):
    if name == "minicnn-numpy":
        return MinicnnContender("numpy")
    if name == "minicnn-cupy":
        return MinicnnContender("cupy")
    if name == "pytorch-cpu":
        return TorchContender("cpu")
    if name == "pytorch-cuda":
        return TorchContender("cuda")
    if name == "jax-cpu":
        return JaxContender()
    raise ValueError(f"unknown contender {name!r}: expected one of {', '.join(LABELS)}")


def find_contenders():
    """(names that can run here, {name: why it is skipped}) for every contender the harness knows."""
    names, skipped = ["minicnn-numpy"], {}
    before = get_backend()
    try:
        set_backend("cupy")
        names.append("minicnn-cupy")
    except RuntimeError as e:
        skipped["minicnn-cupy"] = f"minicnn.set_backend('cupy') failed: {e}"
    finally:
        set_backend(before)
    try:
        torch = _torch()
    except RuntimeError as e:
        skipped["pytorch-cpu"] = skipped["pytorch-cuda"] = str(e)
    else:
        names.append("pytorch-cpu")
        if torch.cuda.is_available():
            names.append("pytorch-cuda")
        else:
            skipped["pytorch-cuda"] = (f"torch {torch.__version__} sees no CUDA GPU "
                                       "(torch.cuda.is_available() is False)")
    if importlib.util.find_spec("jax") is None:
        skipped["jax-cpu"] = "JAX is not installed (pip install jax)"
    else:
        names.append("jax-cpu")
    if importlib.util.find_spec("tensorflow") is None:
        skipped["tensorflow"] = "TensorFlow is not installed"
    else:  # JAX stands in for the XLA-compiled frameworks; TensorFlow's Keras is not translated
        skipped["tensorflow"] = "TensorFlow is installed, but this harness measures JAX, not TensorFlow"
    return names, skipped


# -- timing -------------------------------------------------------------------------------------
def _stats(values):
    """Median and spread of a list of numbers, plus the numbers themselves."""
    v = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return dict(median=float(med), min=float(v.min()), max=float(v.max()), q1=float(q1),
                q3=float(q3), runs=[float(a) for a in v])


def _time_block(fn, steps, sync):
    """Seconds for ``steps`` calls of ``fn``, device work included."""
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return time.perf_counter() - start


def _settle():
    """Outside the clock: let the last contender's idle thread pools stop spinning."""
    time.sleep(PAUSE_SECONDS)


def measure_throughput(contenders, batch, task, repeats, steps, warmup):
    """Images per second of ``task`` ("train" or "infer"), interleaved: {name: [one per repetition]}.

    ``steps=None`` picks the step count from the warm-up, so that the fastest
    contender's block lasts TARGET_BLOCK_SECONDS; every contender runs that count.
    """
    fns = {c.name: (c.train_step if task == "train" else c.infer_step) for c in contenders}
    step_seconds = {}
    for c in contenders:
        c.set_training(task == "train")
        for _ in range(max(warmup - 1, 0)):
            fns[c.name]()
        step_seconds[c.name] = _time_block(fns[c.name], 1, c.sync)
    if steps is None:
        fastest = max(min(step_seconds.values()), 1e-6)
        steps = max(1, min(MAX_AUTO_STEPS, math.ceil(TARGET_BLOCK_SECONDS / fastest)))
    runs = {c.name: [] for c in contenders}
    gc.collect()                     # once, so no contender inherits garbage from the set-up
    for rep in range(repeats):
        for c in contenders if rep % 2 == 0 else contenders[::-1]:   # A B C, C B A, ...: no place favoured
            _settle()
            runs[c.name].append(steps * batch / _time_block(fns[c.name], steps, c.sync))
    return steps, runs


def measure_latency(contenders, image, repeats, calls, warmup):
    """Milliseconds per single-image prediction (eval mode, NumPy in and out): {name: [per call]}."""
    times = {c.name: [] for c in contenders}
    for c in contenders:
        c.set_training(False)
        for _ in range(warmup):
            c.predict(image)
    gc.collect()
    for rep in range(repeats):
        for c in contenders if rep % 2 == 0 else contenders[::-1]:
            _settle()
            for _ in range(calls):
                start = time.perf_counter()
                c.predict(image)            # returns a NumPy array: GPU work is finished
                times[c.name].append((time.perf_counter() - start) * 1e3)
    return times


def _timed(fn, sync, sink):
    def wrapper(*args, **kwargs):
        sync()
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        sync()
        sink.append((time.perf_counter() - start) * 1e3)
        return out
    return wrapper


def measure_layers(contender, steps):
    """minicnn's milliseconds per layer, forward and backward, timed inside real training steps.

    Each layer's ``forward``/``backward`` (and the loss and the optimiser step) is
    wrapped in a timer on the instance for the duration, so the training step
    itself runs unchanged. The first step is a warm-up and is dropped.
    """
    model, sync = contender.model, contender.sync
    contender.set_training(True)
    # One thread, the whole batch: with batch chunks on threads (threads.py) a layer's
    # timer would see only chunk 0 while the other chunks run beside it.
    threads_before = get_num_threads()
    set_num_threads(1)
    per_layer = [{"forward": [], "backward": []} for _ in model.layers]
    loss_ms, opt_ms, step_ms = [], [], []
    patched = [(layer, "forward", per_layer[i]["forward"]) for i, layer in enumerate(model.layers)]
    patched += [(layer, "backward", per_layer[i]["backward"]) for i, layer in enumerate(model.layers)]
    patched += [(contender.loss, "forward", loss_ms), (contender.loss, "backward", loss_ms),
                (contender.optimizer, "step", opt_ms)]
    for obj, method, sink in patched:
        setattr(obj, method, _timed(getattr(obj, method), sync, sink))   # shadows the class method
    try:
        for _ in range(steps + 1):
            step_ms.append(_time_block(contender.train_step, 1, sync) * 1e3)
    finally:
        for obj, method, _ in patched:
            vars(obj).pop(method, None)
        set_num_threads(threads_before)

    def per_step(values, calls=1):  # the loss is called twice a step (forward, backward): add them
        return np.add.reduceat(np.asarray(values), np.arange(0, len(values), calls))[1:]  # no warm-up

    fwd = [per_step(t["forward"]) for t in per_layer]
    bwd = [per_step(t["backward"]) for t in per_layer]
    loss, opt, step = per_step(loss_ms, calls=2), per_step(opt_ms), per_step(step_ms)
    other = step - loss - opt - sum(fwd) - sum(bwd)        # Python glue, zero_grad, the timers
    shapes = [out for _, out, _, _ in model.summary_rows(INPUT_SHAPE)]
    rows = [dict(layer=f"{i}: {type(layer).__name__}", output_shape=list(shapes[i]),
                 forward_ms=float(np.median(fwd[i])), backward_ms=float(np.median(bwd[i])))
            for i, layer in enumerate(model.layers)]
    order = model.execution_order() if hasattr(model, "execution_order") else list(range(len(model.layers)))
    return dict(rows=rows, loss_ms=float(np.median(loss)), optimizer_ms=float(np.median(opt)),
                other_ms=float(np.median(other)), step_ms=float(np.median(step)), order=order)


# -- roofline: what the machine's matrix multiply can do -----------------------------------------
def measure_matmul(sizes, repeats, devices):
    """Best float32 square-matmul GFLOP/s per library: {"cpu": {...}, "gpu": {...}}."""
    rng = np.random.default_rng(SEED)
    result = {}
    for device in devices:
        libs = {}
        for n in sizes:
            a = rng.random((n, n), dtype=np.float32)
            b = rng.random((n, n), dtype=np.float32)
            for lib, (mul, sync) in _matmul_kernels(device, a, b).items():
                mul()                                                     # warm-up
                best = min(_time_block(mul, 1, sync) for _ in range(repeats))
                libs.setdefault(lib, {})[str(n)] = 2 * n ** 3 / best / 1e9
        if libs:
            best_lib = max(libs, key=lambda k: max(libs[k].values()))
            result[device] = dict(gflops=libs, limit_gflops=max(libs[best_lib].values()),
                                  limit_library=best_lib)
    return result


def _matmul_kernels(device, a, b):
    kernels = {}
    if device == "cpu":
        kernels["numpy"] = (lambda: a @ b, lambda: None)
        if _have_torch():
            torch = _torch()
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            kernels["torch"] = (lambda: ta @ tb, lambda: None)
        return kernels
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            ca, cb = cupy.asarray(a), cupy.asarray(b)
            kernels["cupy"] = (lambda: ca @ cb, cupy.cuda.get_current_stream().synchronize)
    except Exception:  # noqa: BLE001 - no CuPy or no GPU: that library is simply not measured
        pass
    if _have_torch():
        torch = _torch()
        if torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = False
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            kernels["torch"] = (lambda: ta @ tb, torch.cuda.synchronize)
    return kernels


# -- peak memory, each contender alone in a fresh process ---------------------------------------
def _proc_status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field} line")


class _PeakRss:
    """Peak resident set size since the last ``reset``, in KiB.

    Linux lets a process reset its own high-water mark (VmHWM) to its current RSS
    by writing 5 to /proc/self/clear_refs. Elsewhere ru_maxrss, which cannot be
    reset, is used: growth above an earlier, larger peak would then be missed.
    """

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "VmHWM - VmRSS"
        except OSError:
            self.method = "ru_maxrss"
        self.reset()

    def reset(self):
        if self.method == "VmHWM - VmRSS":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.baseline = _proc_status_kib("VmRSS")
        else:
            self.baseline = self._maxrss()

    def _maxrss(self):
        import resource
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib // 1024 if sys.platform == "darwin" else kib    # bytes on macOS

    def peak_above_baseline_mib(self):
        peak = _proc_status_kib("VmHWM") if self.method == "VmHWM - VmRSS" else self._maxrss()
        return max(peak - self.baseline, 0) / 1024


def _release_free_memory():
    """Return freed memory to the OS, so the next run cannot hide inside it (glibc's malloc_trim)."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: the measurement may be slightly low
        pass


def _memory_child(spec_json):
    """Run in a fresh interpreter: train one contender, print its peak memory (MiB) as JSON.

    First a throwaway batch-1 step lets the library initialise itself (thread
    pools, kernels paged in); "with_init" counts that, "host_peak_mib" starts
    after it and counts only this model and batch: weights, gradients, optimiser
    state, activations and workspaces.
    """
    spec = json.loads(spec_json)
    contender = make_contender(spec["contender"])
    if spec["contender"].startswith("pytorch"):
        _torch()                                # the library's own import is not the contender's cost
    model, x, y = make_problem(spec["model"], spec["batch"])
    _release_free_memory()
    rss = _PeakRss()                            # baseline: after the imports and the random batch
    contender.setup(*make_problem(spec["model"], 1))
    contender.set_training(True)
    contender.train_step()
    contender.sync()
    with_init = rss.peak_above_baseline_mib()
    contender.free()
    _release_free_memory()
    init_baseline = rss.baseline
    rss.reset()
    contender.setup(model, x, y)
    contender.set_training(True)
    for _ in range(spec["steps"]):
        contender.train_step()
    contender.sync()
    peak = rss.peak_above_baseline_mib()
    workers = _worker_private_mib(contender)       # minicnn's chunk worker processes, if any
    peak += workers
    # never below the model's own peak: trimming may leave the RSS a few pages under the first baseline
    with_init = max(with_init, peak + (rss.baseline - init_baseline) / 1024, peak)
    device_bytes = contender.device_peak_bytes()
    print(json.dumps(dict(host_peak_mib=peak, host_peak_with_init_mib=with_init, method=rss.method,
                          worker_processes_mib=workers,
                          device_peak_mib=None if device_bytes is None else device_bytes / 2 ** 20)))


def _worker_private_mib(contender):
    """The memory minicnn's chunk worker processes hold of their own (Private_Dirty, Linux), in MiB.

    A worker keeps what it freed (backend.keep_freed_memory), so this is close to its peak.
    """
    model = getattr(contender, "model", None)
    total = 0
    for pid in processes.worker_pids(model) if isinstance(model, Sequential) else []:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total += sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:"))
    return total / 1024


def measure_memory(name, model_name, batch, steps):
    """Peak memory above the post-import baseline while ``steps`` training steps run, in MiB."""
    spec = json.dumps(dict(contender=name, model=model_name, batch=batch, steps=steps))
    code = "import sys; from minicnn.benchmark import _memory_child; _memory_child(sys.argv[1])"
    try:
        proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True,
                              timeout=600)
    except subprocess.TimeoutExpired:
        return dict(error=f"the memory run of {name} on {model_name} batch {batch} took over 600 s")
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no error output)"]
        return dict(error=f"the memory run of {name} on {model_name} batch {batch} failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the problem: one model, one random batch ------------------------------------------------------
def make_problem(model_name, batch):
    """A freshly initialised model (seeded) and a random float32 batch with random labels."""
    from .backend import manual_seed
    manual_seed(SEED)
    model = MODELS[model_name](num_classes=NUM_CLASSES)
    rng = np.random.default_rng(SEED + batch)
    x = rng.random((batch,) + INPUT_SHAPE, dtype=np.float32)         # pixels in [0, 1), like real data
    y = rng.integers(0, NUM_CLASSES, size=batch).astype(np.int64)
    return model, x, y


def check_translation(contenders, model, x):
    """Max |log-probability difference| between minicnn-numpy and every other contender (eval mode)."""
    reference, diffs = None, {}
    for c in contenders:
        c.set_training(False)
        out = c.predict(x)
        if reference is None:
            reference = out
        diffs[c.name] = float(np.max(np.abs(out.astype(np.float64) - reference)))
        if diffs[c.name] > TRANSLATION_ATOL:
            raise RuntimeError(f"{c.name} computes a different network from minicnn-numpy: their "
                               f"log-probabilities differ by {diffs[c.name]:.3g} (at most "
                               f"{TRANSLATION_ATOL} expected), so their timings would not be comparable")
    return diffs


# -- machine information ---------------------------------------------------------------------------
def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_name():
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module says."""
    return next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                 if line.startswith("model name")), platform.processor() or platform.machine())


def machine_info():
    """CPU, cores, memory, library versions, BLAS and threads: what the numbers depend on."""
    cpu = cpu_name()
    mem = next((int(line.split()[1]) / 2 ** 20 for line in _read("/proc/meminfo").splitlines()
                if line.startswith("MemTotal:")), None)
    info = dict(cpu=cpu, logical_cores=os.cpu_count(),
                usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                memory_gib=mem, os=platform.platform(), python=platform.python_version(),
                minicnn=__version__, minicnn_git=_git_version(), numpy=np.__version__,
                minicnn_num_threads=get_num_threads(), minicnn_chunk_engine=get_chunk_engine(),
                minicnn_kept_freed_memory=KEPT_FREED_MEMORY,
                blas_environment={k: v for k, v in sorted(os.environ.items())
                                  if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))},
                load_average_start=_load())
    try:
        from threadpoolctl import threadpool_info
        info["numpy_blas"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads",
                                                     "architecture", "threading_layer")}
                              for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        info["numpy_blas"] = [{"internal_api": blas.get("name"), "version": blas.get("version")}]
    if _have_torch():
        torch = _torch()
        info.update(torch=torch.__version__, torch_num_threads=torch.get_num_threads(),
                    torch_num_interop_threads=torch.get_num_interop_threads(),
                    torch_mkldnn=torch.backends.mkldnn.is_available())
        try:  # which vector instructions PyTorch's kernels use (AVX2, AVX512, ...)
            info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except AttributeError:  # older PyTorch
            pass
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    if importlib.util.find_spec("jax") is not None:
        import jax
        info["jax"] = jax.__version__
    if "gpu" not in info and importlib.util.find_spec("cupy") is not None:
        try:
            import cupy
            info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        except Exception:  # noqa: BLE001 - no usable GPU: nothing to report
            pass
    return info


def _git_version():
    """`git describe` of the checkout minicnn runs from (which layer code was measured), or None."""
    try:
        proc = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _load():
    text = _read("/proc/loadavg").split()
    return [float(v) for v in text[:3]] if text else None


def run_json_child(code, args, env=None, cwd=None):
    """Run ``python -c code *args`` in a fresh process and return the JSON its last line prints.

    For the measuring scripts in benchmarks/ that need a process of their own (a setting
    made at import, a changed environment); a failed child ends the script with its stderr.
    """
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_ratio_text(runs, a, b):
    """"1.06x": the median over repetitions of runs[a][k] / runs[b][k] (paired), or "-" without b."""
    if a not in runs or b not in runs:
        return "-"
    return f"{np.median(np.asarray(runs[a]) / np.asarray(runs[b])):.2f}x"


def results_header(command, note=""):
    """The first line of a results table: when it ran, the command, the load average (and a note)."""
    return (f"# {datetime.datetime.now().isoformat(timespec='seconds')}: {command}; "
            f"load average {os.getloadavg()[0]:.2f}" + (f"; {note}" if note else ""))


def append_results(path, lines):
    """Append a table (lines of text, then a blank line) to a results file; say where it went."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n\n")
    print(f"appended to {path}")
    return lines


# -- the report ------------------------------------------------------------------------------------
def _md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio_text(r):
    if r is None:
        return "n/a"
    return f"{r['of_medians']:.2f}x ({r['paired_min']:.2f}-{r['paired_max']:.2f})"


def _ratios(runs, reference_runs):
    """Ratio of median throughputs and the range of per-repetition (paired) ratios; >1 is faster."""
    if reference_runs is None:
        return None
    a, b = np.asarray(runs, dtype=np.float64), np.asarray(reference_runs, dtype=np.float64)
    paired = a / b if len(a) == len(b) else np.array([np.median(a) / np.median(b)])
    return dict(of_medians=float(np.median(a) / np.median(b)), paired_min=float(paired.min()),
                paired_max=float(paired.max()))


def _latency_ratio(times, reference, repeats):
    """PyTorch CPU's median latency over the contender's (the table's medians, so >1 is faster),
    with the range of the ratios of each repetition's medians."""
    if reference is None:
        return None
    mine = [np.median(part) for part in np.array_split(np.asarray(times), repeats)]
    theirs = [np.median(part) for part in np.array_split(np.asarray(reference), repeats)]
    paired = np.asarray(theirs) / np.asarray(mine)
    return dict(of_medians=float(np.median(reference) / np.median(times)),
                paired_min=float(paired.min()), paired_max=float(paired.max()))


def render_markdown(result):
    m, s = result["machine"], result["settings"]
    out = ["# minicnn benchmark", "",
           f"`{result['command']}` on {result['date']}"
           + (f" (minicnn {m['minicnn_git']})" if m.get("minicnn_git") else ""), "",
           f"**Machine:** {m['cpu']}, {m['usable_cores']} usable cores, "
           + ("" if m["memory_gib"] is None else f"{m['memory_gib']:.1f} GiB RAM") + f"; NumPy {m['numpy']} "
           f"({', '.join(str(b.get('internal_api')) + ' ' + str(b.get('version')) + (' ' + b['architecture'] + ' kernels' if b.get('architecture') else '') for b in m['numpy_blas'])}"
           f", {m['numpy_blas'][0].get('num_threads', '?')} threads)"
           + f"; minicnn {m.get('minicnn_num_threads', '?')} batch chunks on "
             f"{m.get('minicnn_chunk_engine', 'threads')}"
           + (f"; PyTorch {m['torch']} ({m['torch_num_threads']} threads"
              + (f", {m['torch_cpu_capability']} kernels" if m.get("torch_cpu_capability") else "") + ")"
              if "torch" in m else "")
           + (f"; environment {', '.join(f'{k}={v}' for k, v in m['blas_environment'].items())}"
              if m.get("blas_environment") else "")
           + (f"; JAX {m['jax']}" if "jax" in m else "")
           + (f"; GPU {m['gpu']}" if "gpu" in m else "")
           + f". Load average {m['load_average_start']} at the start, {m.get('load_average_end')} at the end.",
           "",
           f"Repetitions: {s['repeats']} per contender, interleaved; steps per repetition: "
           f"{s['steps'] or 'auto (the fastest contender runs >= ' + str(TARGET_BLOCK_SECONDS) + ' s)'}."
           " Spread = min-max over repetitions; ratio in brackets = range of the per-repetition ratios.",
           ""]
    coretype = m.get("blas_environment", {}).get("OPENBLAS_CORETYPE")
    if coretype:
        out += [f"OpenBLAS's kernels were chosen by the environment (OPENBLAS_CORETYPE={coretype}), not "
                "for this CPU; `python benchmarks/blas_kernels.py` measures the training comparison "
                "without that variable.", ""]
    for name, why in result["skipped"].items():
        out.append(f"- skipped **{name}**: {why}")
    out += ["", "## Throughput (images/s)", ""]
    rows = []
    for e in result["throughput"]:
        mem, dev = e.get("peak_memory_mib"), e.get("device_peak_memory_mib")
        mem_text = "-" if mem is None else f"{mem:.1f}" + ("" if dev is None else f" (+{dev:.1f} on GPU)")
        rows.append([e["model"], e["batch"], e["task"], LABELS.get(e["contender"], e["contender"]),
                     f"{e['images_per_second']['median']:,.0f}",
                     f"{e['images_per_second']['min']:,.0f}-{e['images_per_second']['max']:,.0f}",
                     _ratio_text(e["ratio_to_pytorch_cpu"]),
                     "n/a" if e["percent_of_matmul_limit"] is None else f"{e['percent_of_matmul_limit']:.1f}%",
                     mem_text])
    out.append(_md_table(["model", "batch", "task", "contender", "img/s (median)", "spread (min-max)",
                          "x PyTorch CPU", "% of matmul limit", "peak memory MiB"], rows))
    out += ["", "## Single-image latency (batch of 1, eval mode, NumPy in and out)", ""]
    rows = [[e["model"], LABELS.get(e["contender"], e["contender"]), f"{e['ms']['median']:.3f}",
             f"{e['ms']['q1']:.3f}-{e['ms']['q3']:.3f}", _ratio_text(e["ratio_to_pytorch_cpu"])]
            for e in result["latency"]]
    out.append(_md_table(["model", "contender", "median ms", "spread (IQR) ms", "speed x PyTorch CPU"], rows))
    out += ["", "## Roofline", ""]
    for device, r in result["roofline"].items():
        libs = "; ".join(f"{lib}: " + ", ".join(f"{n}^2 {g:.1f}" for n, g in sizes.items())
                         for lib, sizes in r["gflops"].items())
        out.append(f"- {device} float32 matmul GFLOP/s ({libs}); limit = {r['limit_gflops']:.1f} "
                   f"({r['limit_library']})")
    for name, f in result["models"].items():
        out.append(f"- {name}: {f['forward_flops_per_image']:,} forward FLOPs per image, "
                   f"training = 3 x forward = {f['training_flops_per_image']:,}; "
                   f"{f['parameters']:,} parameters")
    if result["memory"]:
        out += ["", f"Peak memory (training): {result['memory_method']}"]
        out += [f"- {e['contender']} {e['model']} batch {e['batch']}: {e['error']}"
                for e in result["memory"] if "error" in e]
    for entry in result["per_layer"]:
        out += ["", f"## Time per layer: {LABELS.get(entry['contender'], entry['contender'])}, "
                    f"{entry['model']}, batch {entry['batch']} (median of {entry['steps']} training steps)", "",
                "Measured with `set_num_threads(1)`: the whole batch on one thread (BLAS on its default "
                "threads), so each layer's time is its own. The throughput rows above use the default: "
                "one batch chunk per core.", ""]
        order = entry.get("order")
        if order and order != sorted(order):
            out += [f"Sequential ran the layers in the order {', '.join(map(str, order))}: a ReLU written just "
                    "before a MaxPool2d runs after it (`Sequential.pool_before_relu`; the same numbers), so "
                    "its row times the ReLU on the pooled output.", ""]
        step = entry["step_ms"]
        rows = [[r["layer"], str(tuple(r["output_shape"])), f"{r['forward_ms']:.2f}", f"{r['backward_ms']:.2f}",
                 f"{100 * (r['forward_ms'] + r['backward_ms']) / step:.0f}%"] for r in entry["rows"]]
        for label, ms in (("NLLLoss forward + backward", entry["loss_ms"]),
                          ("SGD step", entry["optimizer_ms"]),
                          ("other (Python, zero_grad, timers)", entry["other_ms"])):
            rows.append([label, "", f"{ms:.2f}", "", f"{100 * ms / step:.0f}%"])
        rows.append(["**whole step**", "", f"{step:.2f}", "", "100%"])
        out.append(_md_table(["layer", "output shape", "forward ms", "backward ms", "share"], rows))
    return "\n".join(out) + "\n"


def write_chart(result, path):
    """A bar chart of every contender's speed relative to PyTorch CPU (1.0 = as fast)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return 'matplotlib is not installed: pip install "minicnn[viz]" to get the chart'
    groups = [("train", "training throughput"), ("infer", "inference throughput"), ("latency", "latency")]
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    names = [n for n in result["contenders"] if n != REFERENCE]
    for ax, (task, title) in zip(axes, groups):
        entries = result["latency"] if task == "latency" else \
            [e for e in result["throughput"] if e["task"] == task]
        keys = list(dict.fromkeys((e["model"], e.get("batch")) for e in entries))
        width = 0.8 / max(len(names), 1)
        for j, name in enumerate(names):
            ratio = {(e["model"], e.get("batch")): e["ratio_to_pytorch_cpu"] for e in entries
                     if e["contender"] == name}
            xs = [i for i, k in enumerate(keys) if ratio.get(k)]
            if not xs:
                continue
            mids = [ratio[keys[i]]["of_medians"] for i in xs]
            # latency's overall median can fall outside the per-repetition range: clip the bars at 0
            lo = [max(m - ratio[keys[i]]["paired_min"], 0.0) for m, i in zip(mids, xs)]
            hi = [max(ratio[keys[i]]["paired_max"] - m, 0.0) for m, i in zip(mids, xs)]
            ax.bar([i - 0.4 + width * (j + 0.5) for i in xs], mids, width, yerr=[lo, hi], capsize=3,
                   label=LABELS.get(name, name))
        ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
        ax.set_xticks(range(len(keys)), [m if b is None else f"{m}\nbatch {b}" for m, b in keys])
        ax.set_title(title)
        ax.set_ylabel("speed relative to PyTorch CPU (higher is faster)")
    if REFERENCE not in result["contenders"]:
        fig.suptitle("PyTorch CPU was not available: no ratios to draw")
    else:
        axes[0].legend(loc="upper left", fontsize=8)
        fig.suptitle(f"minicnn benchmark, {result['machine']['cpu']} ({result['date'][:10]})")
    fig.savefig(path, dpi=110)
    return None


# -- command line ----------------------------------------------------------------------------------
def _positive_ints(text):
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers of at least 1, got {text!r}")
    return values


def build_parser():
    p = argparse.ArgumentParser(prog="minicnn bench", description=(
        "Measure minicnn against PyTorch (and CuPy/CUDA where present): training and inference "
        "throughput, single-image latency, time per layer, peak memory and the matmul roofline."))
    p.add_argument("--quick", action="store_true",
                   help="a tiny run (batch 8, 2 repetitions of 1 step): checks the harness, "
                        "measures nothing worth quoting")
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=None,
                   help="models to measure (default: lenet convnet)")
    p.add_argument("--batch-sizes", nargs="+", type=_positive_ints, default=None,
                   help="training/inference batch sizes (default: 64 256)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved repetitions per contender (default 9)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"steps per repetition (default: enough for the fastest contender to run "
                        f">= {TARGET_BLOCK_SECONDS} s)")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help="folder for latest.md, latest.json and latest.png (default: benchmarks/results)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (one process each)")
    return p


def _measure_model(result, model_name, names, plan, log):
    """Throughput, time per layer and latency of one model, appended to ``result``."""
    rows = MODELS[model_name]().summary_rows(INPUT_SHAPE)
    fwd = sum(r[3] for r in rows)
    result["models"][model_name] = dict(forward_flops_per_image=fwd, training_flops_per_image=3 * fwd,
                                        parameters=sum(r[2] for r in rows))
    for batch in plan["batch_sizes"]:
        model, x, y = make_problem(model_name, batch)
        contenders = [make_contender(n) for n in names]
        for c in contenders:
            c.setup(model, x, y)
        result["translation"][f"{model_name}/{batch}"] = check_translation(contenders, model, x)
        for task in ("train", "infer"):
            log(f"{model_name} batch {batch}: {task} ...")
            steps, runs = measure_throughput(contenders, batch, task, plan["repeats"], plan["steps"],
                                             plan["warmup"])
            flops = (3 if task == "train" else 1) * fwd
            for c in contenders:
                limit = result["roofline"].get(c.device, {}).get("limit_gflops")
                ips = _stats(runs[c.name])
                result["throughput"].append(dict(
                    model=model_name, batch=batch, task=task, contender=c.name, steps=steps,
                    images_per_second=ips, ratio_to_pytorch_cpu=_ratios(runs[c.name], runs.get(REFERENCE)),
                    percent_of_matmul_limit=100 * ips["median"] * flops / (limit * 1e9) if limit else None,
                    peak_memory_mib=None, device_peak_memory_mib=None))
        for c in contenders:
            if c.name.startswith("minicnn"):
                log(f"{model_name} batch {batch}: time per layer ({c.name}) ...")
                result["per_layer"].append(dict(contender=c.name, model=model_name, batch=batch,
                                                steps=plan["layer_steps"],
                                                **measure_layers(c, plan["layer_steps"])))
    log(f"{model_name}: single-image latency ...")
    model, _, _ = make_problem(model_name, 1)
    image = np.random.default_rng(SEED).random((1,) + INPUT_SHAPE, dtype=np.float32)
    contenders = [make_contender(n) for n in names]
    for c in contenders:
        c.setup(model, image, np.zeros(1, dtype=np.int64))
    times = measure_latency(contenders, image, plan["repeats"], plan["latency_calls"], plan["latency_warmup"])
    for c in contenders:
        result["latency"].append(dict(
            model=model_name, contender=c.name, ms=_stats(times[c.name]),
            ratio_to_pytorch_cpu=_latency_ratio(times[c.name], times.get(REFERENCE), plan["repeats"])))


def _measure_all_memory(result, models, names, plan, log):
    """Peak memory of every contender, model and batch size (one fresh process each)."""
    result["memory_method"] = (
        "each contender trains alone in a fresh Python process. After the imports, one throwaway "
        "batch-1 step lets the library initialise itself; then the peak resident set size is reset "
        "(/proc/self/clear_refs) and the figure is the peak (VmHWM) minus the RSS at that moment, "
        f"over model set-up and {plan['memory_steps']} training step(s): weights, gradients, "
        "momentum, activations and workspaces. The JSON's host_peak_with_init_mib also counts the "
        "library's first-use initialisation. GPU contenders add the device memory their allocator "
        "reserved (CuPy's pool, torch.cuda.max_memory_reserved).")
    train_entries = {(e["model"], e["batch"], e["contender"]): e for e in result["throughput"]
                     if e["task"] == "train"}
    for model_name in models:
        for batch in plan["batch_sizes"]:
            for name in names:
                log(f"{model_name} batch {batch}: peak memory of {name} (fresh process) ...")
                mem = measure_memory(name, model_name, batch, plan["memory_steps"])
                if "error" in mem:
                    log(mem["error"])
                mem.update(contender=name, model=model_name, batch=batch)
                result["memory"].append(mem)
                entry = train_entries[(model_name, batch, name)]
                entry["peak_memory_mib"] = mem.get("host_peak_mib")
                entry["device_peak_memory_mib"] = mem.get("device_peak_mib")


def main(argv=None):
    """``minicnn bench`` / ``python -m benchmarks``: measure, print the tables, write the files; 0 on success."""
    parser = build_parser()
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.batch_sizes is not None:
        plan["batch_sizes"] = tuple(b for group in args.batch_sizes for b in group)
    for name in ("repeats", "steps"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                parser.error(f"--{name} must be at least 1, got {value}")
            plan[name] = value
    plan.setdefault("steps", None)
    models = args.models or ["lenet", "convnet"]
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        parser.error(f"cannot create the output folder {out_dir}: {e.strerror}")

    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:5.0f} s] {msg}", file=sys.stderr, flush=True)

    names, skipped = find_contenders()
    log(f"contenders: {', '.join(names)}; skipped: {', '.join(skipped) or 'none'}")
    result = dict(schema="minicnn-benchmark-v1",
                  command=" ".join(["minicnn bench"] + list(sys.argv[1:] if argv is None else argv)),
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  machine=machine_info(), settings=dict(plan, models=models, lr=LR, momentum=MOMENTUM),
                  contenders={n: dict(label=LABELS[n], device=make_contender(n).device) for n in names},
                  skipped=skipped, roofline={}, models={}, translation={}, throughput=[], latency=[],
                  per_layer=[], memory=[], memory_method=None)

    log("roofline: float32 matrix multiply ...")
    devices = ["cpu"] + (["gpu"] if any(n in GPU_CONTENDERS for n in names) else [])
    result["roofline"] = measure_matmul(plan["matmul_sizes"], plan["matmul_repeats"], devices)

    for model_name in models:
        _measure_model(result, model_name, names, plan, log)
    if not args.no_memory:
        _measure_all_memory(result, models, names, plan, log)

    result["machine"]["load_average_end"] = _load()
    result["seconds"] = time.perf_counter() - started
    chart_problem = write_chart(result, out_dir / "latest.png")
    if chart_problem:
        result["chart"] = chart_problem
        log(chart_problem)
    markdown = render_markdown(result)
    (out_dir / "latest.md").write_text(markdown)
    (out_dir / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
    print(markdown)
    log(f"wrote {out_dir / 'latest.md'}, latest.json and latest.png in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
