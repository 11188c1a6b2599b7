"""Every registered layer, checked without editing this file: gradients, the naive reference where
reference.NAIVE has one, its PyTorch twin, and a save/load round trip. A new built-in layer is
registered with an ``example`` in its module and is checked here from then on."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.layers.registry import LAYERS
from minicnn.reference import NAIVE
from minicnn.testing import check_layer

EXAMPLES = sorted(name for name, entry in LAYERS.items() if entry.example is not None)


def test_every_built_in_layer_has_an_example():
    built_in = {name for name, entry in LAYERS.items() if entry.cls.__module__.startswith("minicnn.layers")}
    assert built_in <= set(EXAMPLES) and {"Conv2d", "BatchNorm2d", "MaxPool2d"} <= built_in


@pytest.mark.parametrize("name", EXAMPLES)
def test_gradients_and_the_naive_reference_in_training_mode(backend, name):
    mc.manual_seed(0)
    layer, shape = LAYERS[name].example()
    reference = NAIVE[name](layer) if name in NAIVE else None
    check_layer(layer.train(), shape, reference=reference)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_pytorch_twin_in_eval_mode(backend, name):
    entry = LAYERS[name]
    if entry.torch is None:
        pytest.skip(f"{name} has no PyTorch twin")
    mc.manual_seed(0)
    layer, shape = entry.example()
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.config().items()}
    report = check_layer(layer.eval(), shape, torch_module=lambda nn: getattr(nn, entry.torch)(**config))
    assert report["against PyTorch"].verdict == "passed" or "not installed" in report["against PyTorch"].sentence


@pytest.mark.parametrize("name", EXAMPLES)
def test_save_and_load_give_the_same_layer(tmp_path, name):
    mc.manual_seed(0)
    layer, shape = LAYERS[name].example()
    model = mc.Sequential(layer).eval()
    x = mc.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    again = mc.Sequential.load(model.save(tmp_path / f"{name}.npz")).eval()
    assert type(again[0]) is type(layer) and again[0].config() == layer.config()
    np.testing.assert_array_equal(mc.to_numpy(again(x)), mc.to_numpy(model(x)))


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_bridge_there_and_back(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    if LAYERS[name].torch is None:
        pytest.skip(f"{name} has no PyTorch twin")
    layer, shape = LAYERS[name].example()
    model = mc.Sequential(layer).double().eval()
    x = np.random.default_rng(0).standard_normal(shape)
    net = mc.to_torch(model)
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), model(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mc.from_torch(net)(x), model(x), rtol=1e-12, atol=1e-12)
