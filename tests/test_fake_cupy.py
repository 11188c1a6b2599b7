"""The CuPy stand-in (tests/fakes/cupy) is as strict as CuPy where minicnn could go wrong, and it
is what the cupy-backend tests run on wherever the real CuPy is not installed."""
import numpy as np
import pytest

import minicnn as mc

cupy = pytest.importorskip("cupy", reason="neither CuPy nor the stand-in (MINICNN_FAKE_CUPY=0)")
if not getattr(cupy, "FAKE", False):
    pytest.skip("the real CuPy is installed: the stand-in is not in use", allow_module_level=True)


def test_the_cupy_backend_tests_run_on_it_instead_of_skipping(cupy_skip_reason):
    assert cupy_skip_reason is None
    mc.set_backend("cupy")
    try:
        x = mc.xp().zeros((2, 3), dtype=np.float32)
        assert type(x).__module__ == "cupy" and mc.get_array_module(x) is cupy
        assert isinstance(mc.to_numpy(x), np.ndarray)
    finally:
        mc.set_backend("numpy")


def test_an_implicit_copy_to_the_host_is_refused_as_cupy_refuses_it():
    a = cupy.asarray([1.0, 2.0])
    for to_host in (np.asarray, np.array, lambda v: np.float64(1.0) * np.ones(2) + v):
        with pytest.raises(TypeError):
            to_host(a)
    assert isinstance(a.get(), np.ndarray) and isinstance(cupy.asnumpy(a), np.ndarray)


@pytest.mark.parametrize("mix", [
    lambda d, h: d + h, lambda d, h: h * d, lambda d, h: d @ h.reshape(2, 1),
    lambda d, h: cupy.maximum(d, h), lambda d, h: d.dot(h), lambda d, h: d[h > 0],
], ids=["device+host", "host*device", "matmul", "cupy.maximum", "method", "host index"])
def test_host_and_device_arrays_cannot_be_mixed(mix):
    with pytest.raises(TypeError, match="host memory"):
        mix(cupy.asarray([1.0, -2.0]), np.array([3.0, 4.0]))


def test_a_numpy_function_on_a_device_array_names_the_xp_to_use():
    with pytest.raises(TypeError, match=r"xp\.exp"):
        np.exp(cupy.asarray([1.0]))
    with pytest.raises(TypeError, match=r"xp\.sum"):
        np.sum(cupy.asarray([1.0]))


def test_results_stay_on_the_device_and_views_share_memory():
    a = cupy.arange(6, dtype=np.float32).reshape(2, 3)
    total = a.sum()                                   # a 0-d device array, as in CuPy
    assert type(total) is cupy.ndarray and total.ndim == 0 and float(total) == 15.0
    view = cupy.lib.stride_tricks.as_strided(a, shape=(3,), strides=(a.strides[1],))
    view += 1                                         # in place, through the view
    assert a.get()[0].tolist() == [1.0, 2.0, 3.0]
    a[1] = np.zeros(3, np.float32)                    # CuPy copies a host value in on assignment
    assert a.get()[1].tolist() == [0.0, 0.0, 0.0]
    cupy.random.seed(0)
    u = cupy.random.uniform(0.0, 1.0, (4,), dtype=np.float32)
    assert type(u) is cupy.ndarray and u.dtype == np.float32


def test_a_layer_that_mixes_host_and_device_fails_on_the_cupy_backend():
    class HostBias(mc.Module):                        # adds a NumPy constant to whatever comes in
        def forward(self, x):
            return x + np.ones(x.shape[-1], dtype=x.dtype)

    mc.set_backend("cupy")
    try:
        with pytest.raises(TypeError, match="host memory"):
            HostBias().forward(mc.asarray(np.zeros((2, 3), np.float32)))
    finally:
        mc.set_backend("numpy")
