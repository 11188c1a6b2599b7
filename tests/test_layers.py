"""Every layer checked three ways: numerical gradient, naive loop reference, PyTorch.

Notation of the cases: (in, out, kernel, stride, padding, bias, input shape) for
convolutions and (kernel, stride, padding, input shape) for pooling; kernel,
stride and padding are an int or an (h, w) pair, as in PyTorch.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import reference

DTYPES = [np.float32, np.float64]
# float32 keeps ~7 significant digits, so sums of a few dozen products agree to ~1e-6;
# float64 agrees to ~1e-15 and only the order of the additions differs.
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-12)}

CONV_CASES = [
    pytest.param((1, 2, 3, 1, 0, True, (2, 1, 5, 5)), id="3x3"),
    pytest.param((2, 3, 3, 2, 1, True, (2, 2, 7, 6)), id="stride2-pad1"),
    pytest.param((3, 2, (2, 3), (2, 1), (1, 2), True, (1, 3, 5, 6)), id="nonsquare-kernel-stride-pad"),
    pytest.param((2, 2, (3, 1), 1, (0, 1), False, (2, 2, 4, 5)), id="no-bias"),
    pytest.param((2, 3, 1, 1, 0, True, (1, 2, 3, 3)), id="1x1"),
    pytest.param((2, 1, 3, 3, 0, True, (1, 2, 7, 8)), id="stride3-leftover-columns"),
]

POOL_CASES = [
    pytest.param((2, None, 0, (2, 2, 4, 4)), id="2x2-tiling"),
    pytest.param((2, None, 0, (1, 2, 5, 5)), id="2x2-odd-input"),
    pytest.param((3, 2, 0, (1, 2, 7, 7)), id="3s2-overlapping"),
    pytest.param((3, 2, 1, (2, 1, 6, 6)), id="3s2-overlapping-pad1"),
    pytest.param(((2, 3), (1, 2), (1, 1), (1, 2, 5, 7)), id="nonsquare"),
    pytest.param((3, 1, 1, (1, 1, 5, 5)), id="3s1-pad1"),
    pytest.param((5, None, 0, (1, 2, 5, 5)), id="global"),
]
POOLS = [pytest.param(mc.MaxPool2d, id="max"), pytest.param(mc.AvgPool2d, id="avg")]


# -- inputs ------------------------------------------------------------------------------
def smooth_input(shape, dtype=np.float64, seed=0):
    """Standard normal values: for layers without kinks (conv, linear, avg-pool, log-softmax)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def relu_input(shape, dtype=np.float64, seed=0):
    """|x| in [0.1, 1.1] with random signs: never within gradcheck's eps of ReLU's kink at 0."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.1, size=shape)).astype(dtype)


def separated_input(shape, dtype=np.float64, seed=0):
    """A random permutation of ..., -0.1, 0, 0.1, ...: no ties or near-ties in any max-pool window."""
    n = int(np.prod(shape))
    values = (np.random.default_rng(seed).permutation(n) - n // 2) * 0.1
    return values.reshape(shape).astype(dtype)


def make_conv(case, dtype=np.float32):
    cin, cout, k, s, p, bias, _ = case
    return mc.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias).to(dtype=dtype)


def assert_close(actual, expected, dtype, what):
    np.testing.assert_allclose(mc.to_numpy(actual), mc.to_numpy(expected), **TOL[dtype],
                               err_msg=f"{what} ({np.dtype(dtype).name})")


# -- numerical gradient check, float64 ----------------------------------------------------
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradcheck(backend, case):
    mc.manual_seed(0)
    result = mc.gradcheck(make_conv(case), mc.asarray(smooth_input(case[-1])))
    assert result, result


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_gradcheck(backend, pool, case):
    k, s, p, shape = case
    result = mc.gradcheck(pool(k, stride=s, padding=p), mc.asarray(separated_input(shape)))
    assert result, result


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(backend, bias):
    mc.manual_seed(0)
    result = mc.gradcheck(mc.Linear(6, 4, bias=bias), mc.asarray(smooth_input((3, 6))))
    assert result, result


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4, 5)])
def test_relu_gradcheck(backend, shape):
    result = mc.gradcheck(mc.ReLU(), mc.asarray(relu_input(shape)))
    assert result, result


def test_flatten_gradcheck(backend):
    result = mc.gradcheck(mc.Flatten(), mc.asarray(smooth_input((2, 3, 2, 4))))
    assert result, result


@pytest.mark.parametrize("shape, dim", [((4, 7), 1), ((5, 3), 0), ((2, 3, 4), -1), ((2, 3, 4), 1)])
def test_logsoftmax_gradcheck(backend, shape, dim):
    result = mc.gradcheck(mc.LogSoftmax(dim=dim), mc.asarray(3 * smooth_input(shape)))
    assert result, result


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_dropout_gradcheck(backend, training):
    # gradcheck re-seeds before every forward, so the training mask stays the same.
    result = mc.gradcheck(mc.Dropout(0.3).train(training), mc.asarray(smooth_input((4, 5))))
    assert result, result


def test_sequential_gradcheck(backend):
    mc.manual_seed(0)
    model = mc.Sequential(
        mc.Conv2d(1, 2, 3, padding=1), mc.ReLU(), mc.MaxPool2d(2),            # (2, 2, 3, 3)
        mc.Conv2d(2, 3, (2, 3), padding=(0, 1)), mc.AvgPool2d(2, stride=1),    # (2, 3, 1, 2)
        mc.Flatten(), mc.Linear(6, 4), mc.LogSoftmax(dim=1))
    result = mc.gradcheck(model, mc.asarray(smooth_input((2, 1, 6, 6))))
    assert result, result
    assert set(result.errors) == {"input", "0.weight", "0.bias", "3.weight", "3.bias",
                                  "6.weight", "6.bias"}


# -- fast layers against the naive loop references -----------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_naive_reference(backend, dtype, case):
    mc.manual_seed(1)
    layer = make_conv(case, dtype)
    _, _, _, stride, padding, _, shape = case
    x = smooth_input(shape, dtype)
    y = layer(mc.asarray(x))
    g = smooth_input(y.shape, dtype, seed=2)
    dx = layer.backward(mc.asarray(g))

    w = mc.to_numpy(layer.weight.data).astype(np.float64)
    b = None if layer.bias is None else mc.to_numpy(layer.bias.data).astype(np.float64)
    y_ref = reference.conv2d_forward_naive(x.astype(np.float64), w, b, stride, padding)
    dx_ref, dw_ref, db_ref = reference.conv2d_backward_naive(g.astype(np.float64), x.astype(np.float64),
                                                             w, stride, padding)
    assert_close(y, y_ref, dtype, "Conv2d output")
    assert_close(dx, dx_ref, dtype, "Conv2d input gradient")
    assert_close(layer.weight.grad, dw_ref, dtype, "Conv2d weight gradient")
    if b is not None:
        assert_close(layer.bias.grad, db_ref, dtype, "Conv2d bias gradient")


POOL_REFERENCES = {
    mc.MaxPool2d: (reference.maxpool2d_forward_naive, reference.maxpool2d_backward_naive),
    mc.AvgPool2d: (reference.avgpool2d_forward_naive, reference.avgpool2d_backward_naive),
}


def check_pool_against_naive(pool, k, s, p, x, dtype):
    layer = pool(k, stride=s, padding=p)
    y = layer(mc.asarray(x))
    g = smooth_input(y.shape, dtype, seed=3)
    dx = layer.backward(mc.asarray(g))
    forward_ref, backward_ref = POOL_REFERENCES[pool]
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    assert_close(y, forward_ref(x64, k, s, p), dtype, f"{pool.__name__} output")
    assert_close(dx, backward_ref(g64, x64, k, s, p), dtype, f"{pool.__name__} input gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_matches_naive_reference(backend, dtype, pool, case):
    k, s, p, shape = case
    check_pool_against_naive(pool, k, s, p, smooth_input(shape, dtype), dtype)


@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_ties_send_the_gradient_to_the_first_maximum(backend, case):
    k, s, p, shape = case
    ties = np.random.default_rng(4).integers(0, 2, size=shape).astype(np.float64)  # many equal maxima
    check_pool_against_naive(mc.MaxPool2d, k, s, p, ties, np.float64)


@pytest.mark.parametrize("pool", POOLS)
def test_pool_over_a_window_of_more_than_256_positions(backend, pool):
    # A global pool over a 17x17 feature map: 289 positions in one window.
    check_pool_against_naive(pool, 17, None, 0, smooth_input((2, 3, 17, 17)), np.float64)


# -- PyTorch parity ---------------------------------------------------------------------------
@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")


def check_against_torch(torch, layer, torch_layer, x, dtype):
    """Same weights, same input, same random upstream gradient: compare every output and gradient."""
    torch_layer = torch_layer.to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, p in layer.named_parameters():
            getattr(torch_layer, name).copy_(torch.from_numpy(mc.to_numpy(p.data)))
    name = type(layer).__name__

    y = layer(mc.asarray(x))
    g = smooth_input(y.shape, dtype, seed=5)
    dx = layer.backward(mc.asarray(g))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_layer(xt)
    yt.backward(torch.from_numpy(g))

    assert y.dtype == dtype and dx.dtype == dtype
    assert_close(y, yt.detach().numpy(), dtype, f"{name} output vs PyTorch")
    assert_close(dx, xt.grad.numpy(), dtype, f"{name} input gradient vs PyTorch")
    for pname, p in layer.named_parameters():
        assert_close(p.grad, getattr(torch_layer, pname).grad.numpy(), dtype,
                     f"{name} {pname} gradient vs PyTorch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_pytorch(backend, torch, dtype, case):
    cin, cout, k, s, p, bias, shape = case
    mc.manual_seed(2)
    check_against_torch(torch, make_conv(case, dtype),
                        torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias),
                        smooth_input(shape, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool2d_matches_pytorch(backend, torch, dtype, case):
    k, s, p, shape = case
    check_against_torch(torch, mc.MaxPool2d(k, stride=s, padding=p),
                        torch.nn.MaxPool2d(k, stride=s, padding=p), separated_input(shape, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_avgpool2d_matches_pytorch(backend, torch, dtype, case):
    k, s, p, shape = case
    # PyTorch's defaults (count_include_pad=True) are what minicnn implements.
    check_against_torch(torch, mc.AvgPool2d(k, stride=s, padding=p),
                        torch.nn.AvgPool2d(k, stride=s, padding=p), smooth_input(shape, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_pytorch(backend, torch, dtype, bias):
    mc.manual_seed(3)
    check_against_torch(torch, mc.Linear(7, 5, bias=bias).to(dtype=dtype), torch.nn.Linear(7, 5, bias=bias),
                        smooth_input((4, 7), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_pytorch(backend, torch, dtype):
    check_against_torch(torch, mc.ReLU(), torch.nn.ReLU(), relu_input((2, 3, 4, 4), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_matches_pytorch(backend, torch, dtype):
    check_against_torch(torch, mc.Flatten(), torch.nn.Flatten(), smooth_input((2, 3, 4, 5), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim, scale", [((4, 10), 1, 3.0), ((3, 5), 0, 3.0), ((2, 3, 4), -1, 3.0),
                                               ((4, 10), 1, 1e4)], ids=["dim1", "dim0", "3d", "huge-logits"])
def test_logsoftmax_matches_pytorch(backend, torch, dtype, shape, dim, scale):
    x = (scale * smooth_input(shape)).astype(dtype)
    check_against_torch(torch, mc.LogSoftmax(dim=dim), torch.nn.LogSoftmax(dim=dim), x, dtype)


def test_maxpool_ties_match_pytorch(backend, torch):
    ties = np.random.default_rng(6).integers(0, 2, size=(2, 2, 6, 6)).astype(np.float64)
    check_against_torch(torch, mc.MaxPool2d(3, stride=1, padding=1),
                        torch.nn.MaxPool2d(3, stride=1, padding=1), ties, np.float64)


# -- dtypes and devices ----------------------------------------------------------------------
LAYER_FACTORIES = [
    pytest.param(lambda: mc.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1), (2, 2, 6, 5), id="Conv2d"),
    pytest.param(lambda: mc.MaxPool2d(3, stride=2, padding=1), (2, 2, 6, 5), id="MaxPool2d"),
    pytest.param(lambda: mc.AvgPool2d(3, stride=2, padding=1), (2, 2, 6, 5), id="AvgPool2d"),
    pytest.param(mc.ReLU, (2, 2, 6, 5), id="ReLU"),
    pytest.param(mc.Flatten, (2, 2, 6, 5), id="Flatten"),
    pytest.param(lambda: mc.Linear(6, 4), (3, 6), id="Linear"),
    pytest.param(lambda: mc.LogSoftmax(dim=1), (3, 6), id="LogSoftmax"),
    pytest.param(lambda: mc.Dropout(0.5), (3, 6), id="Dropout"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factory, shape", LAYER_FACTORIES)
def test_layer_keeps_the_dtype_and_device_of_its_input(xp, dtype, factory, shape):
    layer = factory().to(dtype=dtype)
    x = mc.asarray(smooth_input(shape, dtype))
    y = layer(x)
    dx = layer.backward(xp.ones_like(y))
    for what, a in [("output", y), ("input gradient", dx)] + \
                   [(f"{n} gradient", p.grad) for n, p in layer.named_parameters()]:
        assert a.dtype == dtype, f"{type(layer).__name__} {what} is {a.dtype}, expected {np.dtype(dtype)}"
        assert mc.get_array_module(a) is xp, f"{type(layer).__name__} {what} left the {mc.get_backend()} backend"
    assert dx.shape == x.shape


def test_new_layers_are_float32_on_the_active_backend(xp):
    for layer in (mc.Conv2d(2, 3, 3), mc.Linear(4, 2)):
        for name, p in layer.named_parameters():
            assert p.data.dtype == np.float32, f"{layer!r} {name} is {p.data.dtype}"
            assert mc.get_array_module(p.data) is xp


@pytest.mark.parametrize("layer, fan_in", [(lambda: mc.Conv2d(16, 32, 3), 16 * 9),
                                           (lambda: mc.Linear(200, 100), 200)], ids=["Conv2d", "Linear"])
def test_initialisation_is_pytorchs_kaiming_uniform(layer, fan_in):
    # PyTorch's default, kaiming_uniform(a=sqrt(5)), is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    mc.manual_seed(0)
    layer = layer()
    bound = 1 / np.sqrt(fan_in)
    w = mc.to_numpy(layer.weight.data)
    b = mc.to_numpy(layer.bias.data)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.98 * bound                        # the whole range is used
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound / np.sqrt(3)   # std of U(-a, a) is a/sqrt(3)
    assert abs(w.mean()) < 0.05 * bound


def test_dropout_zeroes_a_fraction_p_and_rescales_the_rest(xp):
    mc.manual_seed(0)
    layer = mc.Dropout(0.25)
    x = xp.ones((200, 100), dtype=np.float32)
    y = mc.to_numpy(layer(x))
    dropped = (y == 0).mean()
    assert abs(dropped - 0.25) < 0.01, f"dropped {dropped:.3f} of the inputs, expected 0.25"
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)
    g = mc.to_numpy(layer.backward(xp.ones_like(x)))
    np.testing.assert_array_equal(g, y)                          # the same mask backward
    layer.eval()
    assert layer(x) is x and layer.backward(x) is x              # the identity in eval mode
