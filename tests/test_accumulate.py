"""Gradients accumulate into .grad until zero_grad(), exactly as torch.Tensor.grad does."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.models import convnet, lenet


def two_batches(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 1, 28, 28)), rng.integers(0, 10, n)) for _ in range(2)]


def backward_on(model, x, y):
    loss = mc.NLLLoss()
    loss.forward(model.forward(mc.asarray(x)), mc.asarray(y))
    model.backward(loss.backward(), input_grad=False)


@pytest.mark.parametrize("make", [lenet, convnet])
def test_two_backward_passes_without_zero_grad_add_up_as_in_pytorch(backend, make):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    mc.manual_seed(0)
    model = make().double().eval()                   # eval: no dropout, so both libraries agree
    twin = mc.to_torch(model).double().eval()
    batches = two_batches()
    for x, y in batches:                             # no zero_grad between the two
        backward_on(model, x, y)
        torch.nn.functional.nll_loss(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(mc.to_numpy(p.grad), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    # and the sum really is the sum of the two separate gradients
    separate = []
    for x, y in batches:
        model.zero_grad()
        backward_on(model, x, y)
        separate.append([mc.to_numpy(p.grad) for p in model.parameters()])
    for p, q, a, b in zip(model.parameters(), twin.parameters(), *separate):
        np.testing.assert_allclose(a + b, q.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_zero_grad_clears_every_gradient(backend):
    mc.manual_seed(0)
    model = lenet()
    opt = mc.SGD(model.parameters(), lr=0.1)
    x, y = two_batches()[0]
    backward_on(model, x.astype(np.float32), y)
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    backward_on(model, x.astype(np.float32), y)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_micro_batches_add_up_to_the_step_of_the_whole_batch(backend):
    """Four micro-batches of 16, each loss scaled by 1/4, then one SGD step: the step of one batch of 64."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((64, 1, 28, 28)), rng.integers(0, 10, 64)
    weights = []
    for micro in (64, 16):
        mc.manual_seed(0)
        model = lenet().double()
        opt = mc.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for step in range(2):
            opt.zero_grad()
            for i in range(0, 64, micro):
                loss = mc.NLLLoss()
                loss.forward(model.forward(mc.asarray(x[i:i + micro])), mc.asarray(y[i:i + micro]))
                model.backward(loss.backward() * (micro / 64), input_grad=False)   # mean over 64
            opt.step()
        weights.append([mc.to_numpy(p.data) for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_every_built_in_layer_with_parameters_accumulates(backend):
    for layer, shape in [(mc.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)), (mc.Conv2d(1, 2, 3), (2, 1, 5, 5)),
                         (mc.Linear(4, 3), (5, 4)), (mc.Conv2d(2, 2, 2, bias=False), (1, 2, 3, 3))]:
        layer.double()
        x = mc.asarray(np.random.default_rng(0).standard_normal(shape))
        g = mc.asarray(np.random.default_rng(1).standard_normal(layer.forward(x).shape))
        layer.backward(g)
        once = [mc.to_numpy(p.grad) for p in layer.parameters()]
        layer.forward(x)
        layer.backward(g)
        for p, a in zip(layer.parameters(), once):
            np.testing.assert_allclose(mc.to_numpy(p.grad), 2 * a, rtol=1e-12, err_msg=repr(layer))


def test_accumulate_keeps_its_own_array_and_refuses_a_wrong_shape():
    p = mc.Parameter(np.zeros((2, 3)))
    g = np.ones((2, 3))
    p.accumulate(g)
    p.accumulate(g)
    np.testing.assert_array_equal(p.grad, 2 * g)
    np.testing.assert_array_equal(g, np.ones((2, 3)))         # the caller's array is untouched
    with pytest.raises(ValueError, match=r"a gradient of shape \(3, 2\) cannot be added to a parameter "
                                         r"of shape \(2, 3\)"):
        p.accumulate(np.ones((3, 2)))
    with pytest.raises(TypeError, match="a parameter's gradient must be an array, received float"):
        p.accumulate(1.0)
