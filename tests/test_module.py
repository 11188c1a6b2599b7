"""The Module contract: a tree of sub-modules, buffers, state_dict, no_grad, the input contract,
and PyTorch's habits (slicing, lazy mc.models, exact types in from_torch)."""
import ast
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn.models import lenet

ROOT = Path(__file__).resolve().parents[1]


class Block(mc.Module):
    """A learner's block: a convolution and a ReLU held as attributes, a list of more blocks."""

    def __init__(self, channels=2, inner=()):
        self.conv = mc.Conv2d(channels, channels, 3, padding=1)
        self.act = mc.ReLU()
        self.blocks = list(inner)
        self.register_buffer("seen", np.zeros(channels, np.float32))

    def forward(self, x):
        y = self.act(self.conv(x))
        for b in self.blocks:
            y = b(y)
        return y

    def backward(self, g):
        for b in reversed(self.blocks):
            g = b.backward(g)
        return self.conv.backward(self.act.backward(g))


def test_sub_modules_give_dotted_names_and_every_method_reaches_them():
    block = Block(inner=[Block()])
    names = [n for n, _ in block.named_parameters()]
    assert names == ["conv.weight", "conv.bias", "blocks.0.conv.weight", "blocks.0.conv.bias"]
    model = mc.Sequential(block, mc.Flatten())
    assert [n for n, _ in model.named_parameters()][:2] == ["0.conv.weight", "0.conv.bias"]
    assert [n for n, _ in model.named_buffers()] == ["0.seen", "0.blocks.0.seen"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "0.conv", "0.act", "0.blocks.0",
                                                     "0.blocks.0.conv", "0.blocks.0.act", "1"]
    assert model.children() == [block, model[1]] and len(model.modules()) == 8
    model.eval()
    assert not any(m.training for m in model.modules())
    model.double()
    assert {p.data.dtype for p in model.parameters()} | {b.dtype for b in model.buffers()} == {np.dtype("float64")}
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    model.backward(np.ones_like(model(x)))
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "Sequential" and visited.count("Conv2d") == 2     # children first, as PyTorch


def test_sgd_over_a_blocks_parameters_updates_them():
    block = Block()
    block.conv.weight.data[...] = 0.1       # positive outputs on ones: the ReLU passes the gradient, whatever the seed
    before = mc.to_numpy(block.conv.weight.data).copy()
    opt = mc.SGD(block.parameters(), lr=0.1)
    assert len(opt.params) == 2
    block.backward(np.ones((1, 2, 4, 4), np.float32) + 0 * block(np.ones((1, 2, 4, 4), np.float32)))
    opt.step()
    assert not np.array_equal(mc.to_numpy(block.conv.weight.data), before)


def test_a_shared_layer_is_counted_once():
    conv = mc.Conv2d(1, 1, 3)
    model = mc.Sequential(conv, mc.ReLU(), conv)
    assert len(model.parameters()) == 2


def test_state_dict_round_trip_carries_buffers_and_refuses_a_mismatch():
    a, b = Block(inner=[Block()]), Block(inner=[Block()])
    a.blocks[0].seen[:] = 7
    state = a.state_dict()
    assert list(state) == ["seen", "conv.weight", "conv.bias", "blocks.0.seen", "blocks.0.conv.weight",
                           "blocks.0.conv.bias"]                # each module's own first, as PyTorch orders them
    b.load_state_dict(state)
    for key, value in b.state_dict().items():
        np.testing.assert_array_equal(mc.to_numpy(value), mc.to_numpy(state[key]))
        assert value is not state[key]                           # copies, not the same arrays
    with pytest.raises(ValueError, match=r"missing \['blocks.0.seen'\]"):
        b.load_state_dict({k: v for k, v in state.items() if k != "blocks.0.seen"})
    with pytest.raises(ValueError, match="'seen' has shape"):
        b.load_state_dict({**state, "seen": np.zeros(5)})


def test_state_dict_keys_are_pytorchs():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    model = mc.Sequential(mc.Conv2d(1, 2, 3), mc.BatchNorm2d(2), mc.ReLU(), mc.Flatten(), mc.Linear(8, 3))
    assert list(model.state_dict()) == list(mc.to_torch(model).state_dict())
    assert torch is not None


# -- no_grad --------------------------------------------------------------------------------
def test_no_grad_keeps_no_cache_and_backward_says_why():
    model = lenet()
    x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    with mc.no_grad():
        assert not mc.is_grad_enabled()
        y = model(x)
    assert mc.is_grad_enabled()
    with pytest.raises(RuntimeError, match=r"after a forward inside minicnn.no_grad\(\)"):
        model.backward(np.ones_like(y))
    np.testing.assert_array_equal(y, model(x))               # the same numbers either way
    model.backward(np.ones_like(y))                          # and a normal forward trains again


def test_no_grad_is_also_a_decorator():
    @mc.no_grad()
    def infer():
        return mc.is_grad_enabled()
    assert infer() is False and mc.is_grad_enabled()


def test_no_grad_holds_less_than_a_tenth_of_the_memory():
    """2,000 images through lenet: what the model still holds after the forward."""
    model = lenet().eval()
    x = np.random.default_rng(0).random((2000, 1, 28, 28), dtype=np.float32)

    def held(grad):
        for m in model.modules():
            m._cache = None
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        if grad:
            y = model(x)
        else:
            with mc.no_grad():
                y = model(x)
        kept = tracemalloc.get_traced_memory()[0] - base - y.nbytes
        tracemalloc.stop()
        return kept

    with_cache, without = held(True), held(False)
    assert with_cache > 50e6 and without < with_cache / 10, (with_cache, without)


def test_evaluate_and_predict_run_inside_no_grad(monkeypatch):
    from minicnn.train import evaluate, predict_proba
    model = lenet()
    seen = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x: (seen.append(mc.is_grad_enabled()), forward(x))[1])
    x, y = np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 2])
    evaluate(model, x, y)
    predict_proba(model, x)
    assert seen == [False, False]


# -- the input contract -----------------------------------------------------------------------
@pytest.mark.parametrize("layer, shape", [(mc.Conv2d(1, 2, 3), (2, 1, 5, 5)), (mc.ReLU(), (2, 3)),
                                          (mc.MaxPool2d(2), (1, 1, 4, 4)), (mc.Linear(3, 2), (2, 3)),
                                          (mc.BatchNorm2d(1), (2, 1, 3, 3))])
def test_integer_input_is_refused_with_how_to_convert(layer, shape):
    with pytest.raises(ValueError, match=r"received an array of uint8.*minicnn.data.as_batch"):
        layer(np.zeros(shape, np.uint8))


def test_a_model_refuses_integer_images_naming_the_layer():
    with pytest.raises(ValueError, match=r"^Sequential layer 0: Conv2d received an array of uint8"):
        lenet()(np.zeros((1, 1, 28, 28), np.uint8))


def test_a_float64_batch_into_a_float32_model_is_refused():
    with pytest.raises(ValueError, match="Conv2d has float32 parameters but received float64 input"):
        lenet()(np.zeros((1, 1, 28, 28)))


@pytest.mark.parametrize("make, words", [
    (lambda: mc.Conv2d(1, 1, 3.7), "kernel_size must be a whole number"),
    (lambda: mc.Conv2d(1, 1, 3, stride=1.5), "stride must be a whole number"),
    (lambda: mc.Conv2d(1, 1, 3, padding=0.5), "padding must be a whole number"),
    (lambda: mc.Conv2d(1.0, 1, 3), "in_channels must be a whole number"),
    (lambda: mc.MaxPool2d(True), "kernel_size must be a whole number"),
    (lambda: mc.Conv2d(1, 1, 3, padding="full"), "padding='full' is not accepted: give a number, a pair, 'valid'"),
    (lambda: mc.Conv2d(1, 1, 2, padding="same"), "'same' (which needs stride 1 and an odd kernel_size"),
    (lambda: mc.Conv2d(1, 1, 3, stride=2, padding="same"), "needs stride 1"),
    (lambda: mc.Linear(2.5, 3), "in_features must be a whole number"),
])
def test_non_integer_sizes_are_refused(make, words):
    with pytest.raises(ValueError, match=None) as e:
        make()
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("padding, kernel", [("same", 3), ("same", (5, 3)), ("valid", 3)])
def test_padding_strings_work_as_in_pytorch(padding, kernel):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    layer = mc.Conv2d(2, 3, kernel, padding=padding).double()
    twin = torch.nn.Conv2d(2, 3, kernel, padding=padding).double()
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight.data))
        twin.bias.copy_(torch.from_numpy(layer.bias.data))
    x = np.random.default_rng(0).standard_normal((2, 2, 7, 6))
    np.testing.assert_allclose(layer(x), twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


# -- PyTorch's habits ----------------------------------------------------------------------
def test_a_slice_of_a_sequential_is_a_sequential_of_the_same_layers():
    model = lenet()
    part = model[1:3]
    assert type(part) is mc.Sequential and part.layers == model.layers[1:3]
    assert isinstance(model[0], mc.Conv2d)


def test_models_is_reachable_from_import_minicnn_alone():
    code = "import minicnn as mc; print(type(mc.models.lenet()).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "Sequential", out.stderr


def test_from_torch_refuses_a_subclass_with_its_own_forward():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")

    class Shifted(torch.nn.Conv2d):
        def forward(self, x):
            return super().forward(x) + 0.79

    class Renamed(torch.nn.Conv2d):            # same forward: the same function
        pass

    with pytest.raises(ValueError, match="layer 0 is a Shifted, a subclass of nn.Conv2d with a forward of its own"):
        mc.from_torch(torch.nn.Sequential(Shifted(1, 2, 3)))
    assert isinstance(mc.from_torch(torch.nn.Sequential(Renamed(1, 2, 3)))[0], mc.Conv2d)


# -- summary of a learner's layer ---------------------------------------------------------------
class LeakyReLU(mc.Module):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, g):
        return np.where(self.x > 0, g, self.negative_slope * g)


def test_summary_of_a_layer_without_output_shape_says_so(capsys):
    model = mc.Sequential(mc.Conv2d(1, 2, 3), LeakyReLU(), mc.Flatten())
    model.summary((1, 5, 5))
    out = capsys.readouterr().out
    assert "1: LeakyReLU" in out and "(2, 3, 3)" in out
    assert "LeakyReLU define no output_shape" in out
    LeakyReLU().forward(np.ones((1, 2)))
    mc.summary.summary(LeakyReLU(), (2,))                    # a single module works too
    assert "LeakyReLU" in capsys.readouterr().out


# -- registering a learner's layer --------------------------------------------------------------
def test_a_registered_layer_of_ones_own_is_saved_and_loaded(tmp_path):
    @mc.register_layer
    class Scaled(mc.Module):
        def __init__(self, channels, scale=2.0):
            self.channels, self.scale = channels, scale
            self.gain = mc.Parameter(np.full(channels, scale, np.float32))
            self.register_buffer("calls", np.zeros((), np.int64))

        def forward(self, x):
            return x * self.gain.data.reshape(1, -1, 1, 1)

        def backward(self, g):
            return g * self.gain.data.reshape(1, -1, 1, 1)

        def config(self):
            return dict(channels=self.channels, scale=self.scale)

    model = mc.Sequential(mc.Conv2d(1, 3, 3), Scaled(3, 0.5))
    model[1].gain.data[:] = [1, 2, 3]
    model[1].calls[...] = 4
    again = mc.Sequential.load(model.save(tmp_path / "m.npz"))
    assert type(again[1]) is Scaled and again[1].scale == 0.5
    np.testing.assert_array_equal(again[1].gain.data, [1, 2, 3])
    assert int(again[1].calls) == 4
    with pytest.raises(ValueError, match="a layer named 'Conv2d' is registered already"):
        mc.register_layer(type("Conv2d", (mc.Module,), {}))
    with pytest.raises(TypeError, match="derived from minicnn.Module"):
        mc.register_layer(int)


# -- the source: no import cycles, the size budget ------------------------------------------------
def _imports(path):
    """The minicnn modules a file imports, at the top or inside functions."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]                                  # a module's package; an __init__'s own package
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("minicnn."))
    return found


def test_no_import_cycle_in_minicnn():
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "minicnn").rglob("*.py")}
    graph = {name: {t for t in _imports(p) if t in files and t != name} for name, p in files.items()}
    # a package's __init__ is entered whenever one of its modules is: edges to the package are not cycles
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [c for c in map(cycle_from, sorted(graph)) if c]
    assert not cycles, " -> ".join(cycles[0])


def test_size_budget():
    """The Module-contract issue's budget, as tinygrad keeps one: minicnn/ at most 5,500 lines, no module
    over 400, the reading path (backend, windows, layers, losses, optim, sequential, gradcheck) at most 1,500."""
    def lines(p):
        return len(p.read_text().splitlines())
    files = list((ROOT / "minicnn").rglob("*.py"))
    reading = [ROOT / "minicnn" / f for f in ("backend.py", "windows.py", "losses.py", "optim.py",
                                              "sequential.py", "gradcheck.py")]
    reading += list((ROOT / "minicnn" / "layers").glob("*.py"))
    assert sum(map(lines, files)) <= 5500, sum(map(lines, files))
    assert max(map(lines, files)) <= 400, max(files, key=lines)
    assert sum(map(lines, reading)) <= 1500, sum(map(lines, reading))


# -- fit trains the model it is given ------------------------------------------------------------
def test_fit_trains_the_model_as_given_and_a_data_parallel_when_given_one(capsys):
    from minicnn.train import fit
    x = np.random.default_rng(0).integers(0, 256, (128, 28, 28), dtype=np.uint8)
    y = np.arange(128) % 10
    model = lenet()
    sizes = []
    forward = model.forward
    model.forward = lambda xb: (sizes.append(len(xb)), forward(xb))[1]
    fit(model, mc.NLLLoss(), mc.SGD(model.parameters(), lr=0.01), x, y, epochs=1, batch_size=64, progress=False)
    assert sizes == [64, 64] and "DataParallel" not in capsys.readouterr().out   # no wrapper of its own
    inner = lenet()
    history = fit(mc.DataParallel(inner, workers=2), mc.NLLLoss(), mc.SGD(inner.parameters(), lr=0.01), x, y,
                  epochs=1, batch_size=64, progress=False)
    assert history.steps == 2 and inner.metadata["trained"] is True
