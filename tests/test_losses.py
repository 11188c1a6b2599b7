"""NLLLoss and CrossEntropyLoss: gradients, PyTorch parity, stability, dtypes."""
import numpy as np
import pytest

import minicnn as mc

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}
LOSSES = [pytest.param(mc.NLLLoss, id="NLLLoss"), pytest.param(mc.CrossEntropyLoss, id="CrossEntropyLoss")]


def scores_and_target(n, k, dtype=np.float64, scale=3.0, seed=0):
    """(N, K) scores (log-probabilities for NLLLoss, logits for CrossEntropyLoss) and (N,) labels."""
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((n, k))).astype(dtype)
    return logits, rng.integers(0, k, size=n)


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("n, k", [(1, 2), (5, 3), (8, 10)])
def test_loss_gradcheck(backend, loss, n, k):
    scores, target = scores_and_target(n, k)
    if loss is mc.NLLLoss:
        scores = log_softmax(scores)
    result = mc.gradcheck(loss(), mc.asarray(scores), mc.asarray(target))
    assert result, result


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("scale", [3.0, 1e4], ids=["normal", "huge-logits"])
def test_loss_matches_pytorch(backend, torch, dtype, loss, scale):
    scores, target = scores_and_target(6, 10, dtype, scale)
    if loss is mc.NLLLoss:
        scores = log_softmax(scores.astype(np.float64)).astype(dtype)
    torch_loss = torch.nn.NLLLoss() if loss is mc.NLLLoss else torch.nn.CrossEntropyLoss()
    st = torch.tensor(scores, requires_grad=True)
    lt = torch_loss(st, torch.from_numpy(target))
    lt.backward()

    crit = loss()
    value = crit(mc.asarray(scores), mc.asarray(target))
    grad = crit.backward()
    assert isinstance(value, float) and np.isfinite(value)
    assert value == pytest.approx(lt.item(), rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])
    assert grad.dtype == dtype and mc.get_array_module(grad) is mc.xp()
    np.testing.assert_allclose(mc.to_numpy(grad), st.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_logsoftmax_then_nll(backend, dtype):
    logits, target = scores_and_target(7, 5, dtype)
    x, t = mc.asarray(logits), mc.asarray(target)
    ce = mc.CrossEntropyLoss()
    value = ce(x, t)
    grad = ce.backward()
    lsm, nll = mc.LogSoftmax(dim=1), mc.NLLLoss()
    chained = nll(lsm(x), t)
    chained_grad = lsm.backward(nll.backward())
    assert value == pytest.approx(chained, rel=TOL[dtype]["rtol"])
    np.testing.assert_allclose(mc.to_numpy(grad), mc.to_numpy(chained_grad), **TOL[dtype])


@pytest.mark.parametrize("k", [2, 10, 345])
def test_uniform_scores_cost_log_k(backend, k):
    # Every class equally likely: the loss is -log(1/K) = log(K), whatever the labels.
    value = mc.CrossEntropyLoss()(mc.xp().zeros((4, k), dtype=np.float32), mc.asarray(np.arange(4) % k))
    assert value == pytest.approx(np.log(k), rel=1e-6)


def test_nll_gradient_is_minus_one_over_n_at_the_targets(backend):
    log_probs, target = scores_and_target(4, 3)
    crit = mc.NLLLoss()
    crit(mc.asarray(log_probs), mc.asarray(target))
    expected = np.zeros((4, 3))
    expected[np.arange(4), target] = -1 / 4
    np.testing.assert_array_equal(mc.to_numpy(crit.backward()), expected)


def test_target_may_be_a_numpy_array_or_a_list_on_any_backend(backend):
    logits, target = scores_and_target(5, 4)
    x = mc.asarray(logits)
    values = [mc.CrossEntropyLoss()(x, t) for t in (mc.asarray(target), target, target.tolist())]
    assert values[0] == values[1] == values[2]
