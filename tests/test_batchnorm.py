"""BatchNorm2d: the layer with state. Gradients, a naive loop reference, PyTorch in train and eval
mode with its running statistics, save/load, the bridge, the summary and DataParallel."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.testing import check_layer

CONFIGS = [pytest.param(dict(), id="default"), pytest.param(dict(momentum=None), id="cumulative"),
           pytest.param(dict(affine=False), id="no-affine"),
           pytest.param(dict(track_running_stats=False), id="batch-stats-always"),
           pytest.param(dict(eps=1e-3, momentum=0.3), id="eps-momentum")]


def batchnorm_naive(x, weight, bias, eps, mean=None, var=None):
    """Loops over the channels, every statistic written out: y[n, c, i, j] for each c."""
    n_, c_, h, w = x.shape
    y = np.empty_like(x)
    for c in range(c_):
        values = x[:, c].reshape(-1)                               # every value of channel c
        mu = values.sum() / len(values) if mean is None else mean[c]
        sigma2 = ((values - mu) ** 2).sum() / len(values) if var is None else var[c]
        for n in range(n_):
            for i in range(h):
                for j in range(w):
                    y[n, c, i, j] = (x[n, c, i, j] - mu) / np.sqrt(sigma2 + eps) * weight[c] + bias[c]
    return y


def randomise(layer, seed=1):
    rng = np.random.default_rng(seed)
    for p in layer.parameters():
        p.data = mc.asarray(rng.uniform(0.5, 1.5, p.data.shape).astype(p.data.dtype))
    return layer


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")


@pytest.mark.parametrize("config", CONFIGS)
def test_train_mode_three_ways(backend, config):
    layer = randomise(mc.BatchNorm2d(3, **config))
    reference = (lambda x, w, b: batchnorm_naive(x, w, b, layer.eps)) if layer.affine else \
        (lambda x: batchnorm_naive(x, np.ones(3), np.zeros(3), layer.eps))
    check_layer(layer, (4, 3, 3, 2), reference=reference,
                torch_module=lambda nn: nn.BatchNorm2d(3, **config))


def test_eval_mode_uses_the_running_statistics(backend):
    layer = randomise(mc.BatchNorm2d(3))
    layer.running_mean = mc.asarray(np.array([0.5, -1.0, 2.0], np.float32))
    layer.running_var = mc.asarray(np.array([1.5, 0.2, 3.0], np.float32))
    layer.eval()
    check_layer(layer, (4, 3, 3, 2), torch_module=None,
                reference=lambda x, w, b: batchnorm_naive(x, w, b, layer.eps, mc.to_numpy(layer.running_mean),
                                                          mc.to_numpy(layer.running_var)))


@pytest.mark.parametrize("config", CONFIGS)
def test_train_then_eval_equals_pytorch_step_for_step(torch, config):
    """Five training batches, then eval: outputs, input and parameter gradients, running statistics."""
    ours = randomise(mc.BatchNorm2d(3, **config)).double()
    theirs = torch.nn.BatchNorm2d(3, **config).double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.from_numpy(p.data))
    rng = np.random.default_rng(0)
    for step in range(6):
        if step == 5:
            ours.eval()
            theirs.eval()
        x = rng.standard_normal((4, 3, 5, 4)) * 2 + 1
        g = rng.standard_normal(x.shape)
        ours.zero_grad()
        y = ours(x)
        dx = ours.backward(g)
        xt = torch.tensor(x, requires_grad=True)
        theirs.zero_grad()
        yt = theirs(xt)
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=f"output {step}")
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"input grad {step}")
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(mc.to_numpy(ours.state_dict()[name]), value.numpy(), rtol=1e-12,
                                       err_msg=f"{name} after step {step}")
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_buffers_are_saved_loaded_moved_and_cast(tmp_path):
    model = mc.Sequential(mc.Conv2d(1, 2, 3), mc.BatchNorm2d(2), mc.ReLU())
    x = np.random.default_rng(0).random((4, 1, 5, 5), dtype=np.float32)
    model(x)
    model(x)
    assert int(model[1].num_batches_tracked) == 2
    again = mc.Sequential.load(model.save(tmp_path / "bn.npz"))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(mc.to_numpy(again.state_dict()[name]), mc.to_numpy(value))
    again.double()
    assert again[1].running_var.dtype == np.float64 and again[1].num_batches_tracked.dtype == np.int64
    model.eval(), again.eval()
    np.testing.assert_allclose(again(x.astype(np.float64)), model(x), rtol=1e-5, atol=1e-6)


def test_to_torch_and_back_keeps_the_running_statistics(torch):
    model = mc.Sequential(mc.Conv2d(1, 2, 3), mc.BatchNorm2d(2), mc.ReLU(), mc.Flatten()).double()
    x = np.random.default_rng(0).standard_normal((4, 1, 5, 5))
    model(x)
    model.eval()
    net = mc.to_torch(model)
    assert int(net[1].num_batches_tracked) == 1
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), model(x), rtol=1e-12)
    back = mc.from_torch(net)
    np.testing.assert_allclose(back(x), model(x), rtol=1e-12)
    np.testing.assert_array_equal(back[1].running_mean, model[1].running_mean)


def test_summary_counts_its_parameters(capsys):
    mc.Sequential(mc.Conv2d(1, 4, 3), mc.BatchNorm2d(4)).summary((1, 6, 6))
    assert "1: BatchNorm2d" in capsys.readouterr().out
    assert mc.Sequential(mc.BatchNorm2d(4)).summary_rows((4, 6, 6))[0][1:3] == ((4, 6, 6), 8)


def test_data_parallel_runs_it_on_the_whole_batch():
    pytest.importorskip("threadpoolctl", reason="DataParallel splits batches only with threadpoolctl")
    model = mc.Sequential(mc.Conv2d(1, 2, 3), mc.BatchNorm2d(2), mc.ReLU(), mc.Flatten()).double()
    plain = mc.Sequential(mc.Conv2d(1, 2, 3), mc.BatchNorm2d(2), mc.ReLU(), mc.Flatten()).double()
    plain.load_state_dict(model.state_dict())
    x = np.random.default_rng(0).standard_normal((64, 1, 5, 5))
    wrapped = mc.DataParallel(model, workers=2)
    assert wrapped.split_depth() == 1                            # the convolution only
    np.testing.assert_allclose(wrapped(x), plain(x), rtol=1e-12)
    np.testing.assert_allclose(model[1].running_var, plain[1].running_var, rtol=1e-12)


@pytest.mark.parametrize("make, words", [
    (lambda: mc.BatchNorm2d(0), "num_features >= 1"), (lambda: mc.BatchNorm2d(2, momentum=2), "momentum"),
    (lambda: mc.BatchNorm2d(2.5), "whole number"), (lambda: mc.BatchNorm2d(2, eps=0), "eps > 0"),
])
def test_bad_arguments_are_refused(make, words):
    with pytest.raises(ValueError, match=None) as e:
        make()
    assert words in str(e.value)


def test_one_value_per_channel_cannot_train():
    with pytest.raises(ValueError, match="more than one value per channel"):
        mc.BatchNorm2d(2)(np.zeros((1, 2, 1, 1), np.float32))
