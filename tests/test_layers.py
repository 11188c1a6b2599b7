"""Every layer checked three ways: numerical gradient, naive loop reference, PyTorch.

check_layer (minicnn.testing) does the numerical gradient, accumulation, dtypes, PyTorch and the
naive forward in one call per case; the naive loop versions of backward are compared here directly.

Notation of the cases: (in, out, kernel, stride, padding, bias, input shape) for
convolutions and (kernel, stride, padding, input shape) for pooling; kernel,
stride and padding are an int or an (h, w) pair, as in PyTorch.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import reference
from minicnn.testing import check_layer

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


# -- check_layer: gradients, accumulation, shapes and dtypes, PyTorch, the naive forward -------------
# PyTorch is given as a function of torch.nn: check_layer skips that comparison where PyTorch is
# not installed and still runs the others.
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(backend, case):
    cin, cout, k, s, p, bias, shape = case
    mc.manual_seed(0)
    check_layer(make_conv(case), smooth_input(shape),
                torch_module=lambda nn: nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias),
                reference=lambda x, w, b=None: reference.conv2d_forward_naive(x, w, b, s, p))


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool(backend, pool, case):
    k, s, p, shape = case
    # PyTorch's defaults (count_include_pad=True for the average) are what minicnn implements.
    check_layer(pool(k, stride=s, padding=p), separated_input(shape),
                torch_module=lambda nn: getattr(nn, pool.__name__)(k, stride=s, padding=p),
                reference=lambda x: POOL_REFERENCES[pool][0](x, k, s, p))


@pytest.mark.parametrize("bias", [True, False])
def test_linear(backend, bias):
    mc.manual_seed(0)
    check_layer(mc.Linear(6, 4, bias=bias), smooth_input((3, 6)),
                torch_module=lambda nn: nn.Linear(6, 4, bias=bias))


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4, 5), (2, 3, 4, 4)])
def test_relu(backend, shape):
    check_layer(mc.ReLU(), relu_input(shape), torch_module=lambda nn: nn.ReLU())


@pytest.mark.parametrize("shape", [(2, 3, 2, 4), (2, 3, 4, 5)])
def test_flatten(backend, shape):
    check_layer(mc.Flatten(), smooth_input(shape), torch_module=lambda nn: nn.Flatten())


@pytest.mark.parametrize("shape, dim", [((4, 7), 1), ((5, 3), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((4, 10), 1),
                                        ((3, 5), 0)])
def test_logsoftmax(backend, shape, dim):
    check_layer(mc.LogSoftmax(dim=dim), 3 * smooth_input(shape), torch_module=lambda nn: nn.LogSoftmax(dim=dim))


def test_logsoftmax_of_huge_logits_matches_pytorch(backend):
    # Logits of 1e4 overflow exp() unless the row's max is subtracted first. Central differences
    # cannot follow values this large (the sum they differentiate is ~1e5), so only PyTorch is asked.
    report = check_layer(mc.LogSoftmax(dim=1), 1e4 * smooth_input((4, 10)), raise_on_failure=False,
                         torch_module=lambda nn: nn.LogSoftmax(dim=1))
    assert report["against PyTorch"] and report["shapes and dtypes"], report


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_dropout(backend, training):
    # check_layer re-seeds before every forward, so the training mask stays the same.
    check_layer(mc.Dropout(0.3).train(training), smooth_input((4, 5)))


def test_sequential(backend):
    mc.manual_seed(0)
    model = mc.Sequential(
        mc.Conv2d(1, 2, 3, padding=1), mc.ReLU(), mc.MaxPool2d(2),            # (2, 2, 3, 3)
        mc.Conv2d(2, 3, (2, 3), padding=(0, 1)), mc.AvgPool2d(2, stride=1),    # (2, 3, 1, 2)
        mc.Flatten(), mc.Linear(6, 4), mc.LogSoftmax(dim=1))
    report = check_layer(model, smooth_input((2, 1, 6, 6)), torch_module=lambda nn: nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, (2, 3), padding=(0, 1)),
        nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(6, 4), nn.LogSoftmax(dim=1)))
    assert set(report["gradients"].errors) == {"input", "0.weight", "0.bias", "3.weight", "3.bias",
                                               "6.weight", "6.bias"}


def test_maxpool_ties_match_pytorch(backend):
    # With ties central differences split the gradient (a kink), so only PyTorch can judge:
    # both send it to the first maximum.
    ties = np.random.default_rng(6).integers(0, 2, size=(2, 2, 6, 6)).astype(np.float64)
    report = check_layer(mc.MaxPool2d(3, stride=1, padding=1), ties, raise_on_failure=False,
                         torch_module=lambda nn: nn.MaxPool2d(3, stride=1, padding=1))
    assert report["against PyTorch"] and not report["gradients"], report


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
