"""Shared fixtures: backends, real data from ../shared/datasets, a quickly trained model."""
import importlib.util
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn

ROOT = Path(__file__).resolve().parents[1]

# A test run started in the background (a `&` job of a non-interactive shell, as
# scripts/test-other-pythons.sh starts two) inherits SIGINT ignored, and so would every process
# it starts: the Ctrl-C tests need it delivered. A handler of our own is reset to the default in
# the processes the tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
DATA_DIR = Path(os.environ.get("MINICNN_DATA_DIR", ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("MINICNN_DATA_DIR", str(DATA_DIR))


# Without the real CuPy, the cupy-backend tests run on a strict NumPy-backed stand-in
# (tests/fakes/cupy), so mixing host and device arrays fails in every test run, GPU or not.
# Only in this process: the subprocesses the tests start (benchmarks, notebooks) must never
# time the stand-in as if it were a GPU. MINICNN_FAKE_CUPY=0 leaves it out (then those tests
# skip, as they do without CuPy).
FAKES = Path(__file__).resolve().parent / "fakes"
if importlib.util.find_spec("cupy") is None and os.environ.get("MINICNN_FAKE_CUPY", "1") != "0":
    sys.path.insert(0, str(FAKES))


def pytest_report_header(config):
    try:
        import cupy
    except ImportError:
        return "cupy backend: CuPy is not installed, its tests skip"
    if getattr(cupy, "FAKE", False):
        return (f"cupy backend: the NumPy-backed stand-in {FAKES / 'cupy'} (no GPU: it checks "
                "host/device mixing, not CUDA; scripts/gpu-check.sh is the real check)")
    return f"cupy backend: CuPy {cupy.__version__}"


def _cupy_skip_reason():
    try:
        import cupy
    except ImportError:
        return 'CuPy is not installed (pip install "minicnn-by-hand[gpu]")'
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no GPU is visible to CuPy"
    except Exception as e:  # noqa: BLE001
        return f"CUDA is unavailable to CuPy ({e})"
    return None


BACKENDS = [
    "numpy",
    pytest.param("cupy", marks=pytest.mark.skipif(_cupy_skip_reason() is not None,
                                                  reason=str(_cupy_skip_reason()))),
]


@pytest.fixture
def cupy_skip_reason():
    """Why the cupy-backend tests skip here, or None where they run (on CuPy or the stand-in)."""
    return _cupy_skip_reason()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run a test once per backend; the active backend is restored afterwards."""
    before = minicnn.get_backend()
    minicnn.set_backend(request.param)
    yield request.param
    minicnn.set_backend(before)


@pytest.fixture
def xp(backend):
    return minicnn.xp()


@pytest.fixture(scope="session")
def data_dir():
    if not (DATA_DIR / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found under {DATA_DIR} (set MINICNN_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist(data_dir):
    """(x_train, y_train, x_test, y_test): uint8 (N, 28, 28) images, int64 labels."""
    from minicnn.data import load_mnist
    return load_mnist(root=data_dir, download=False)


@pytest.fixture(scope="session")
def trained_lenet(mnist):
    """lenet trained for one epoch on 12,000 real MNIST digits (about 94-95% test accuracy).

    A plain loop over the core API, so this fixture depends on nothing but the engine.
    """
    x_train, y_train = mnist[0][:12000], mnist[1][:12000]
    minicnn.manual_seed(0)
    from minicnn.models import lenet
    model = lenet()
    loss, opt = minicnn.NLLLoss(), minicnn.SGD(model.parameters(), lr=0.03, momentum=0.9)
    order = np.random.default_rng(0).permutation(len(x_train))
    for i in range(0, len(order), 64):
        idx = order[i:i + 64]
        xb = minicnn.asarray(x_train[idx, None].astype(np.float32) / 255.0)
        opt.zero_grad()
        loss.forward(model.forward(xb), minicnn.asarray(y_train[idx]))
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    model.eval()
    model.metadata["trained"] = True  # what fit() sets; the drawing pad checks it
    return model
