"""End to end on real MNIST digits: a LeNet-style network can memorise 64 of them."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.models import lenet

MAX_STEPS = 300


def first_digits(mnist, n, dtype):
    """The first n training digits as an (n, 1, 28, 28) batch in [0, 1] and their labels."""
    x, y = mnist[0][:n], mnist[1][:n]
    return mc.asarray((x[:, None] / 255.0).astype(dtype)), mc.asarray(y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lenet_overfits_64_mnist_digits(backend, mnist, dtype):
    xb, yb = first_digits(mnist, 64, dtype)
    mc.manual_seed(0)
    model = lenet(n_features=8).to(dtype=dtype)           # the article's LeNet, narrower to keep CI fast
    loss, opt = mc.NLLLoss(), mc.SGD(model.parameters(), lr=0.05, momentum=0.9)

    losses = []
    for step in range(1, MAX_STEPS + 1):
        opt.zero_grad()
        log_probs = model(xb)
        losses.append(loss(log_probs, yb))
        if float((log_probs.argmax(axis=1) == yb).mean()) == 1.0:
            break
        model.backward(loss.backward(), input_grad=False)
        opt.step()
        for name, p in model.named_parameters():
            assert p.data.dtype == dtype and p.grad.dtype == dtype, f"{name} left {np.dtype(dtype).name}"
    else:
        pytest.fail(f"training accuracy below 100% after {MAX_STEPS} steps (loss {losses[-1]:.4f})")

    assert log_probs.dtype == dtype
    assert losses[-1] < 0.1 * losses[0], f"loss went from {losses[0]:.3f} to {losses[-1]:.3f} in {step} steps"
    model.eval()
    predictions = mc.to_numpy(model(xb).argmax(axis=1))
    np.testing.assert_array_equal(predictions, mc.to_numpy(yb))


def test_float32_and_float64_compute_the_same_step(backend, mnist):
    """The same weights in both dtypes give the same loss and gradients, to float32 precision.

    MNIST's flat background makes exact ties in max-pooling, which float32 rounding breaks
    differently from float64 (both are valid gradients), so a little noise is added first.
    """
    noisy = (mnist[0][:32] + np.random.default_rng(0).uniform(0, 5, (32, 28, 28)), mnist[1][:32])
    results = {}
    for dtype in (np.float32, np.float64):
        xb, yb = first_digits(noisy, 32, dtype)
        mc.manual_seed(0)
        model = lenet(n_features=8).to(dtype=dtype)
        loss = mc.NLLLoss()
        value = loss(model(xb), yb)
        model.backward(loss.backward(), input_grad=False)
        results[dtype] = value, [mc.to_numpy(p.grad) for p in model.parameters()]
    (v32, g32), (v64, g64) = results[np.float32], results[np.float64]
    assert v32 == pytest.approx(v64, rel=1e-5)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
