"""minicnn.to_torch and minicnn.from_torch: twins that compute the same, both ways, or one clear error.

Each direction is checked on outputs, the input gradient and every weight gradient of an
NLL loss (eval mode: dropout off), per backend and dtype.
"""
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.checkpoint import architecture
from minicnn.models import convnet, lenet

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the bridge to it cannot be "
                                            "tested (pip install torch)")
nn = torch.nn

TOLERANCE = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-9, atol=1e-11)}


def all_layers_model():
    """Every layer type the bridge knows, with padding and strides that differ from the defaults."""
    return mc.Sequential(
        mc.Conv2d(1, 4, 3, stride=2, padding=1), mc.ReLU(), mc.AvgPool2d(3, stride=1, padding=1),
        mc.Conv2d(4, 6, (3, 2), padding=(1, 0)), mc.MaxPool2d(2, padding=1), mc.ReLU(),
        mc.Flatten(), mc.Dropout(0.3), mc.Linear(6 * 8 * 7, 12), mc.ReLU(), mc.Linear(12, 5),
        mc.LogSoftmax(dim=1))


def batch(dtype):
    rng = np.random.default_rng(2)
    return rng.random((5, 1, 28, 28)).astype(dtype), np.array([0, 1, 2, 3, 4])


def minicnn_pass(model, x, y):
    """(log-probabilities, dL/dx, {name: dL/dweight}) of the mean NLL loss, as NumPy."""
    loss = mc.NLLLoss()
    out = model.forward(mc.asarray(x))
    loss.forward(out, mc.asarray(y))
    dx = model.backward(loss.backward())
    return mc.to_numpy(out), mc.to_numpy(dx), {n: mc.to_numpy(p.grad) for n, p in model.named_parameters()}


def torch_pass(net, x, y):
    xt = torch.from_numpy(x).requires_grad_()
    out = net(xt)
    nn.functional.nll_loss(out, torch.from_numpy(y)).backward()
    return out.detach().numpy(), xt.grad.numpy(), {n: p.grad.numpy() for n, p in net.named_parameters()}


def assert_same(ours, theirs, dtype):
    for what, a, b in zip(("output", "input gradient"), ours[:2], theirs[:2]):
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype], err_msg=what)
    assert ours[2].keys() == theirs[2].keys()
    for name in ours[2]:
        np.testing.assert_allclose(ours[2][name], theirs[2][name], **TOLERANCE[dtype],
                                   err_msg=f"gradient of {name}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("build", [lenet, convnet, all_layers_model], ids=["lenet", "convnet", "all-layers"])
def test_to_torch_gives_a_twin_with_the_same_outputs_and_gradients(backend, dtype, build):
    mc.manual_seed(1)
    model = build().eval().to(dtype=dtype)
    net = mc.to_torch(model)
    assert isinstance(net, nn.Sequential) and not net.training
    assert {p.dtype for p in net.parameters()} == {getattr(torch, dtype)}
    x, y = batch(dtype)
    assert_same(minicnn_pass(model, x, y), torch_pass(net, x, y), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_torch_gives_a_twin_with_the_same_outputs_and_gradients(backend, dtype):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), nn.Conv2d(4, 6, (3, 2), padding=(1, 0))),
        nn.MaxPool2d(2, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(6 * 8 * 7, 12), nn.ReLU(), nn.Linear(12, 5, bias=False), nn.LogSoftmax(dim=1),
    ).to(getattr(torch, dtype)).eval()
    model = mc.from_torch(net)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2d", "ReLU", "AvgPool2d", "Conv2d", "MaxPool2d", "ReLU", "Flatten", "Dropout", "Linear", "ReLU",
        "Linear", "LogSoftmax"]                         # the nested Sequential is opened
    assert not model.training and model.layers[10].bias is None
    assert {str(p.data.dtype) for p in model.parameters()} == {dtype}
    assert mc.get_array_module(model.layers[0].weight.data) is mc.xp()     # on the active backend
    x, y = batch(dtype)
    names = [n for n, _ in net.named_parameters()]      # torch names the nested block's weights "2.1.weight"
    ours = minicnn_pass(model, x, y)
    ours = ours[:2] + ({n: g for n, g in zip(names, ours[2].values())},)
    assert_same(ours, torch_pass(net, x, y), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_round_trip_keeps_the_layers_the_weights_and_the_mode(backend, dtype):
    mc.manual_seed(3)
    model = all_layers_model().to(dtype=dtype).train()
    again = mc.from_torch(mc.to_torch(model))
    assert architecture(again) == architecture(model) and again.training
    for (name, p), (name2, q) in zip(model.named_parameters(), again.named_parameters()):
        assert name == name2 and q.data.dtype == p.data.dtype
        np.testing.assert_array_equal(mc.to_numpy(q.data), mc.to_numpy(p.data))


def test_to_torch_names_a_layer_it_cannot_translate():
    class Square(mc.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(ValueError, match=r"^to_torch: layer 1 \(Square\) has no PyTorch twin; expected one of"):
        mc.to_torch(mc.Sequential(mc.Flatten(), Square()))


@pytest.mark.parametrize("net, message", [
    (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), "layer 0 (Conv2d) uses dilation=(2, 2)"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), "layer 0 (Conv2d) uses groups=2"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), "uses padding_mode='reflect'"),
    (nn.Sequential(nn.Conv2d(1, 2, 4, padding="same")), "'same' (which needs stride 1 and an odd kernel_size"),
    (nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)), "layer 1 (MaxPool2d) uses ceil_mode=True"),
    (nn.Sequential(nn.MaxPool2d(2, dilation=2)), "layer 0 (MaxPool2d) uses dilation=2"),
    (nn.Sequential(nn.AvgPool2d(3, padding=1, count_include_pad=False)), "uses count_include_pad=False"),
    (nn.Sequential(nn.Flatten(0)), "layer 0 (Flatten) uses start_dim=0"),
    (nn.Sequential(nn.ReLU(), nn.BatchNorm1d(2)), "layer 1 is a BatchNorm1d, which has no minicnn twin"),
    (nn.Sequential(nn.ReLU(), nn.Sequential(nn.ReLU(), nn.Tanh())), "layer 1.1 is a Tanh"),
    (nn.Sequential(nn.Linear(2, 2).half()), "layer 0 (Linear) has weight in torch.float16"),
])
def test_from_torch_names_the_layer_and_what_minicnn_lacks(net, message):
    with pytest.raises(ValueError) as e:
        mc.from_torch(net)
    assert str(e.value).startswith("from_torch: ") and message in str(e.value) and "\n" not in str(e.value)


def test_from_torch_wants_a_sequential():
    with pytest.raises(TypeError, match="from_torch expects a torch.nn.Sequential, received Linear"):
        mc.from_torch(nn.Linear(2, 2))


def test_importing_minicnn_does_not_import_torch():
    code = "import sys, minicnn; minicnn.to_torch, minicnn.from_torch; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
