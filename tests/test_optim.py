"""SGD: step for step the same as torch.optim.SGD, first step included."""
import numpy as np
import pytest

import minicnn as mc

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}
CONFIGS = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(momentum=0.9), id="momentum"),
    pytest.param(dict(momentum=0.9, dampening=0.5), id="dampening"),
    pytest.param(dict(momentum=0.9, nesterov=True), id="nesterov"),
    pytest.param(dict(weight_decay=0.1), id="weight-decay"),
    pytest.param(dict(momentum=0.8, dampening=0.3, weight_decay=0.05), id="momentum-dampening-decay"),
    pytest.param(dict(momentum=0.9, nesterov=True, weight_decay=0.01), id="nesterov-decay"),
]
STEPS = 5


def gradients(shapes, steps, dtype, seed=0):
    """A different random gradient for every parameter at every step."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS)
def test_sgd_matches_torch_step_for_step(backend, torch, dtype, config):
    shapes = [(3, 4), (4,)]
    start = [np.random.default_rng(1).standard_normal(s).astype(dtype) for s in shapes]
    params = [mc.Parameter(mc.asarray(a.copy())) for a in start]
    torch_params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in start]
    opt = mc.SGD(params, lr=0.1, **config)
    torch_opt = torch.optim.SGD(torch_params, lr=0.1, **config)

    for step, grads in enumerate(gradients(shapes, STEPS, dtype)):
        opt.zero_grad()
        torch_opt.zero_grad()
        for p, tp, g in zip(params, torch_params, grads):
            p.grad = mc.asarray(g)
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        torch_opt.step()
        for i, (p, tp) in enumerate(zip(params, torch_params)):
            assert p.data.dtype == dtype
            np.testing.assert_allclose(mc.to_numpy(p.data), tp.detach().numpy(), **TOL[dtype],
                                       err_msg=f"parameter {i} after step {step + 1}")


@pytest.mark.parametrize("config", CONFIGS)
def test_sgd_rule_by_hand(backend, config):
    """The documented rule, written out independently of PyTorch, over several steps."""
    lr, mom = 0.1, config.get("momentum", 0.0)
    damp, wd, nesterov = config.get("dampening", 0.0), config.get("weight_decay", 0.0), config.get("nesterov", False)
    p_ref = np.random.default_rng(1).standard_normal((3, 4))
    param = mc.Parameter(mc.asarray(p_ref.copy()))
    opt = mc.SGD([param], lr=lr, **config)
    buf = None
    for (g,) in gradients([(3, 4)], STEPS, np.float64):
        param.grad = mc.asarray(g)
        opt.step()
        d = g + wd * p_ref
        if mom:
            buf = d.copy() if buf is None else mom * buf + (1 - damp) * d   # first step: no dampening
            d = d + mom * buf if nesterov else buf
        p_ref = p_ref - lr * d
        np.testing.assert_allclose(mc.to_numpy(param.data), p_ref, rtol=1e-12, atol=1e-14)


def test_step_updates_in_place_and_skips_parameters_without_gradient(backend):
    layer = mc.Linear(3, 2)
    weight, bias = layer.weight.data, mc.to_numpy(layer.bias.data)
    opt = mc.SGD(layer.parameters(), lr=0.5, momentum=0.9)
    layer.weight.grad = mc.xp().ones_like(layer.weight.data)
    opt.step()
    assert layer.weight.data is weight                       # the layer keeps the same array
    np.testing.assert_array_equal(mc.to_numpy(layer.bias.data), bias)   # grad None: untouched
    opt.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_sgd_trains_a_layer_through_its_own_backward(backend):
    """Fit y = x @ w_true.T with Linear + SGD: the loss must fall by orders of magnitude."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = x @ rng.standard_normal((5, 2)).astype(np.float32)
    mc.manual_seed(0)
    layer = mc.Linear(5, 2)
    opt = mc.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    xb, yb = mc.asarray(x), mc.asarray(y)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        err = layer(xb) - yb                                 # (N, 2)
        losses.append(float((err ** 2).mean()))
        layer.backward(2 * err / err.size)
        opt.step()
    assert losses[-1] < 1e-3 * losses[0], f"loss went from {losses[0]:.3g} to {losses[-1]:.3g}"


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.values[0].get("momentum")])
def test_state_dict_resumes_exactly(backend, config):
    """3 steps, a fresh optimizer loaded with the state, 2 more steps == 5 straight steps (float64)."""
    shapes = [(3, 4), (4,)]
    start = [np.random.default_rng(1).standard_normal(s) for s in shapes]
    grads = gradients(shapes, STEPS, np.float64)

    def run(resume_after):
        params = [mc.Parameter(mc.asarray(a.copy())) for a in start]
        opt = mc.SGD(params, lr=0.1, **config)
        for step, gs in enumerate(grads):
            if step == resume_after:
                state = opt.state_dict()
                opt = mc.SGD(params, lr=0.5)          # other hyperparameters: the state brings them back
                opt.load_state_dict(state)
            for p, g in zip(params, gs):
                p.grad = mc.asarray(g)
            opt.step()
        return [mc.to_numpy(p.data) for p in params]

    for straight, resumed in zip(run(None), run(3)):
        np.testing.assert_array_equal(resumed, straight)


def test_state_dict_has_pytorchs_layout(torch):
    params = [mc.Parameter(np.ones((2, 3))), mc.Parameter(np.ones(3))]
    opt = mc.SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = np.ones((2, 3))
    opt.step()
    ours = opt.state_dict()
    torch_params = [torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64)),
                    torch.nn.Parameter(torch.ones(3, dtype=torch.float64))]
    theirs_opt = torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    torch_params[0].grad = torch.ones(2, 3, dtype=torch.float64)
    theirs_opt.step()
    theirs = theirs_opt.state_dict()
    assert set(ours["state"]) == set(theirs["state"]) == {0}
    assert set(ours["state"][0]) == {"momentum_buffer"}
    np.testing.assert_array_equal(ours["state"][0]["momentum_buffer"], theirs["state"][0]["momentum_buffer"].numpy())
    for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "params"):
        assert ours["param_groups"][0][key] == theirs["param_groups"][0][key], key


@pytest.mark.parametrize("kwargs, words", [
    (dict(lr=-0.1), "lr=-0.1"), (dict(lr=0.1, momentum=5), "momentum must be in [0, 1)"),
    (dict(lr=0.1, momentum=1.0), "momentum must be in [0, 1)"), (dict(lr=0.1, momentum=-0.5), "[0, 1)"),
    (dict(lr=0.1, weight_decay=-1), "weight_decay=-1"), (dict(lr=float("nan")), "finite"),
    (dict(lr="0.1"), "finite number"),
])
def test_bad_hyperparameters_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=None) as e:
        mc.SGD([mc.Parameter(np.ones(2))], **kwargs)
    assert words in str(e.value)


def test_load_state_dict_refuses_a_mismatch():
    opt = mc.SGD([mc.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    other = mc.SGD([mc.Parameter(np.ones(3))], lr=0.1, momentum=0.9)
    other.params[0].grad = np.ones(3)
    other.step()
    with pytest.raises(ValueError, match="momentum buffer"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="param_groups"):
        opt.load_state_dict({"state": {}})
