"""The backend switch: choosing NumPy or CuPy, clear errors without a GPU, copies, seeding."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import minicnn as mc
from minicnn.models import lenet

INSTALL_HINT = 'pip install "minicnn-by-hand[gpu]"'


def one_sentence(message):
    return "\n" not in message and message.strip() == message


# -- choosing a backend --------------------------------------------------------------------------
def test_unknown_backend_is_a_value_error_naming_it():
    before = mc.get_backend()
    with pytest.raises(ValueError) as e:
        mc.set_backend("tensorflow")
    assert "'tensorflow'" in str(e.value) and "numpy" in str(e.value) and "cupy" in str(e.value)
    assert mc.get_backend() == before


def fake_cupy(get_device_count):
    """A stand-in cupy module whose CUDA runtime answers with ``get_device_count``."""
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    return module


def cuda_driver_missing():
    raise OSError("libcuda.so.1: cannot open shared object file")


@pytest.mark.parametrize("cupy_module, cause", [
    (None, "not installed"),
    (fake_cupy(cuda_driver_missing), "libcuda.so.1"),
    (fake_cupy(lambda: 0), "no GPU"),
], ids=["cupy-not-installed", "cuda-unusable", "no-gpu-visible"])
def test_cupy_unavailable_is_one_clear_error_with_the_install_command(monkeypatch, cupy_module, cause):
    monkeypatch.setitem(sys.modules, "cupy", cupy_module)     # None makes `import cupy` fail
    before = mc.get_backend()
    with pytest.raises(RuntimeError) as e:
        mc.set_backend("cupy")
    msg = str(e.value)
    assert cause in msg and INSTALL_HINT in msg and one_sentence(msg), msg
    assert mc.get_backend() == before                         # a failed switch changes nothing
    with pytest.raises(RuntimeError, match="cupy"):
        mc.Linear(2, 2).to("gpu")


def run_python(code, backend_variable):
    env = dict(os.environ, MINICNN_BACKEND=backend_variable)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_minicnn_backend_variable_is_honoured():
    # Each case can only turn out as asserted if MINICNN_BACKEND was read: the default is numpy.
    print_backend = "import minicnn; print(minicnn.get_backend())"
    assert run_python(print_backend, "numpy").stdout.strip() == "numpy"
    assert run_python(print_backend, "").stdout.strip() == "numpy"

    bogus = run_python(print_backend, "bogus")
    assert bogus.returncode != 0 and "ValueError" in bogus.stderr and "'bogus'" in bogus.stderr, bogus.stderr

    without_cupy = "import sys; sys.modules['cupy'] = None\n" + print_backend
    cupy = run_python(without_cupy, "cupy")
    assert cupy.returncode != 0 and "RuntimeError" in cupy.stderr and INSTALL_HINT in cupy.stderr, cupy.stderr

    # set_backend wins over the variable.
    explicit = run_python("import minicnn; minicnn.set_backend('numpy'); print(minicnn.get_backend())", "bogus")
    assert explicit.stdout.strip() == "numpy", explicit.stderr


# -- arrays ------------------------------------------------------------------------------------------
def test_xp_asarray_and_get_array_module_agree(xp):
    assert mc.xp() is xp
    a = mc.asarray(np.arange(6).reshape(2, 3), dtype=np.float32)
    assert mc.get_array_module(a) is xp and a.dtype == np.float32 and a.shape == (2, 3)
    assert mc.get_array_module(np.zeros(2)) is np
    assert mc.get_array_module(mc.asarray(a)) is xp          # already there: stays there


def test_to_numpy_returns_a_numpy_copy_of_anything(xp):
    a = xp.arange(4, dtype=xp.float32)
    copy = mc.to_numpy(a)
    assert type(copy) is np.ndarray and copy.dtype == np.float32
    copy[0] = 100
    assert float(a[0]) == 0.0                                 # a copy, not a view
    np.testing.assert_array_equal(mc.to_numpy(3.5), np.array(3.5))
    np.testing.assert_array_equal(mc.to_numpy([[1, 2]]), np.array([[1, 2]]))
    np.testing.assert_array_equal(mc.to_numpy(a.sum()), np.array(6.0, dtype=np.float32))


def test_model_to_cpu_moves_every_parameter_to_numpy(backend):
    model = lenet(n_features=4).to("cpu")
    assert all(type(p.data) is np.ndarray for p in model.parameters())
    out = model(np.zeros((2, 1, 28, 28), dtype=np.float32))
    assert type(out) is np.ndarray and out.shape == (2, 10)
    with pytest.raises(ValueError, match="'tpu'"):
        model.to("tpu")


# -- seeding ---------------------------------------------------------------------------------------
def test_same_seed_same_weights_on_every_backend(backend):
    def weights(seed):
        mc.manual_seed(seed)
        return [mc.to_numpy(p.data) for p in lenet().parameters()]

    first, again, other = weights(0), weights(0), weights(1)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    mc.set_backend("numpy")                                   # initialisation is drawn on the CPU
    for a, b in zip(first, weights(0)):
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_dropout_mask(xp):
    def mask(seed):
        mc.manual_seed(seed)
        return mc.to_numpy(mc.Dropout(0.5)(xp.ones((8, 16), dtype=np.float32)))

    np.testing.assert_array_equal(mask(3), mask(3))
    assert not np.array_equal(mask(3), mask(4))
