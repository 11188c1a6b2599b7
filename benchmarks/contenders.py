"""The contenders: their names, labels and devices, and the operations each one provides.

Each contender runs in a process of its own (child.py) and imports only its own
framework there; the parent (harness.py) never imports a contender's module.
"""
LR, MOMENTUM = 0.01, 0.9        # the same SGD for every contender (torch.optim.SGD's rule)
SEED = 0

# name: (label, device, module under benchmarks/, class, keyword arguments); the order is the
# order of the first repetition (later repetitions alternate it, see harness.py). The first two
# run minicnn as a user's script does (contender_minicnn.py); the other minicnn ones each change
# one thing: the zoo's layer order, or the allocator setting opted out.
CONTENDERS = {
    "minicnn": ("minicnn eager, a user's script", "cpu", "contender_minicnn", "Minicnn", {"mode": "eager"}),
    "minicnn-dp": ("minicnn DataParallel, a user's script", "cpu", "contender_minicnn", "Minicnn", {"mode": "dp"}),
    "minicnn-zoo": ("minicnn eager, zoo order", "cpu", "contender_minicnn", "Minicnn",
                    {"mode": "eager", "network": "zoo"}),
    "minicnn-zoo-dp": ("minicnn DataParallel, zoo order", "cpu", "contender_minicnn", "Minicnn",
                       {"mode": "dp", "network": "zoo"}),
    "minicnn-no-alloc": ("minicnn eager, allocator opted out", "cpu", "contender_minicnn", "Minicnn",
                         {"mode": "eager", "allocator": "off"}),
    "minicnn-dp-no-alloc": ("minicnn DataParallel, allocator opted out", "cpu", "contender_minicnn", "Minicnn",
                            {"mode": "dp", "allocator": "off"}),
    "minicnn-baseline": ("minicnn eager (baseline)", "cpu", "contender_minicnn", "Minicnn",
                         {"mode": "eager", "baseline": True}),
    "minicnn-baseline-dp": ("minicnn DataParallel (baseline)", "cpu", "contender_minicnn", "Minicnn",
                            {"mode": "dp", "baseline": True}),
    "pytorch-cpu": ("PyTorch CPU eager", "cpu", "contender_pytorch", "PyTorch", {"device": "cpu"}),
    "jax-cpu": ("JAX CPU (jit)", "cpu", "contender_jax", "Jax", {}),
    "keras-cpu": ("Keras 3 on TensorFlow CPU", "cpu", "contender_keras", "Keras", {}),
    "minicnn-cupy": ("minicnn CuPy", "gpu", "contender_minicnn", "Minicnn", {"mode": "cupy"}),
    "pytorch-cuda": ("PyTorch CUDA eager", "gpu", "contender_pytorch", "PyTorch", {"device": "cuda"}),
}
REFERENCE = "pytorch-cpu"       # every ratio in the main tables is against this contender
BASELINE = "minicnn-baseline"   # with --baseline: minicnn from that checkout, eager ...
BASELINE_DP = "minicnn-baseline-dp"    # ... and DataParallel
BASELINES = (BASELINE, BASELINE_DP)


def baseline_of(name, present):
    """The baseline that contender ``name`` is compared with, or None: DataParallel with the
    baseline's DataParallel where it ran (an older minicnn may have none), the rest with its eager."""
    if name in BASELINES or not name.startswith("minicnn") or CONTENDERS[name][1] != "cpu":
        return None
    if CONTENDERS[name][4].get("mode") == "dp" and BASELINE_DP in present:
        return BASELINE_DP
    return BASELINE if BASELINE in present else None


def label(name, baseline_dir=None):
    """The contender's name in the report; the baseline's names its folder."""
    text = CONTENDERS[name][0] if name in CONTENDERS else name
    return text.replace("(baseline)", f"(baseline {baseline_dir})") if baseline_dir else text


class Skip(Exception):
    """Raised by a contender's constructor when it cannot run here; the message says why."""


class Contender:
    """What every contender does. Arrays in and out are NumPy; the batch stays on the device.

    setup(network, x, y): load the network file (minicnn's .npz, see network.py) into this
        framework, x (N, 1, 28, 28) float32 and y (N,) int64 moved to the device once
    set_training(mode): dropout on (training) or off
    train_step() -> float: zero_grad, forward, NLL loss, backward, SGD step; the loss as a float
    infer_step(): one forward pass of the whole batch, no gradients
    state() -> dict: settings only known after setup, merged into the report's info
    predict(images) -> (n, 10) log-probabilities as NumPy (host-device copies included)
    """

    device = "cpu"

    def info(self):
        """Versions and thread settings of this framework, for the report."""
        return {}

    def state(self):
        return {}

    def sync(self):
        """Wait for queued device work (GPU contenders), so the clock sees it finished."""

    def free(self):
        """Drop the network and the batch (GPU: hand cached memory back)."""

    def device_peak_bytes(self):
        """Device memory reserved since the last free(), or None on the CPU."""
        return None

    def matmul_kernels(self, a, b):
        """{library: (multiply, sync)} for the roofline: a @ b of two float32 NumPy squares."""
        return {}

    def layer_steps(self):
        """[(index, layer)] whose forward/backward can be timed one by one, or None."""
        return None
