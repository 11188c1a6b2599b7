"""check_layer must pass every built-in layer, catch planted bugs by name, and refuse bad input in one sentence.

The library's own layers are checked with check_layer case by case in test_layers.py; the
learner's example files (examples/your_layer/) are run by test_examples_your_layer.py.
"""
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import reference
from minicnn.testing import check_layer


@pytest.fixture
def no_torch(monkeypatch):
    """PyTorch as if it were not installed: ``import torch`` raises ImportError."""
    monkeypatch.setitem(sys.modules, "torch", None)


# -- every built-in layer passes, with and without PyTorch ---------------------------------
BUILT_IN = [  # (layer, input shape, the same layer in PyTorch or None)
    pytest.param(lambda: mc.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5),
                 lambda nn: nn.Conv2d(2, 3, 3, stride=2, padding=1), id="Conv2d"),
    pytest.param(lambda: mc.MaxPool2d(2), (2, 2, 4, 4), lambda nn: nn.MaxPool2d(2), id="MaxPool2d"),
    pytest.param(lambda: mc.AvgPool2d(3, stride=2, padding=1), (1, 2, 5, 5),
                 lambda nn: nn.AvgPool2d(3, stride=2, padding=1), id="AvgPool2d"),
    pytest.param(mc.ReLU, (2, 3, 4), lambda nn: nn.ReLU(), id="ReLU"),
    pytest.param(mc.Flatten, (2, 3, 2, 2), lambda nn: nn.Flatten(), id="Flatten"),
    pytest.param(lambda: mc.Linear(5, 3), (4, 5), lambda nn: nn.Linear(5, 3), id="Linear"),
    pytest.param(lambda: mc.LogSoftmax(dim=1), (3, 6), lambda nn: nn.LogSoftmax(dim=1), id="LogSoftmax"),
    pytest.param(lambda: mc.Dropout(0.4), (3, 6), None, id="Dropout"),
    pytest.param(lambda: mc.Sequential(mc.Conv2d(1, 2, 3), mc.ReLU(), mc.Flatten(), mc.Linear(8, 3)),
                 (2, 1, 4, 4), lambda nn: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(),
                                                        nn.Linear(8, 3)), id="Sequential"),
]


@pytest.mark.parametrize("make, shape, twin", BUILT_IN)
def test_every_built_in_layer_passes_with_pytorch(backend, make, shape, twin):
    pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    mc.manual_seed(0)
    report = check_layer(make(), shape, torch_module=twin)
    assert report and report["against PyTorch"].verdict == ("passed" if twin else "skipped"), report
    assert report["gradients"].verdict == "passed"


@pytest.mark.parametrize("make, shape, twin", BUILT_IN)
def test_every_built_in_layer_passes_without_pytorch(backend, no_torch, make, shape, twin):
    mc.manual_seed(0)
    report = check_layer(make(), shape, torch_module=twin)
    assert report, report
    if twin:
        assert report["against PyTorch"].verdict == "skipped"
        assert report["against PyTorch"].sentence == "PyTorch is not installed (pip install torch)"


def test_a_report_prints_as_a_table_and_leaves_the_layer_untouched(backend):
    mc.manual_seed(0)
    layer = mc.Linear(4, 3)
    before = mc.to_numpy(layer.weight.data)
    report = check_layer(layer, (5, 4), reference=lambda x, w, b: x @ w.T + b)
    lines = str(report).splitlines()
    assert lines[0] == "check_layer(Linear): 4 passed, 1 skipped"
    assert lines[1].split() == ["check", "verdict", "worst", "error", "where"]
    assert [line.split()[0] for line in lines[2:]] == ["gradients", "accumulation", "shapes", "against",
                                                       "against"]
    assert "no torch_module given" in lines[5] and "passed" in lines[6]
    assert repr(report) == str(report)
    assert [c.name for c in report.checks] == ["gradients", "accumulation", "shapes and dtypes",
                                               "against PyTorch", "against a reference"]
    assert set(report["gradients"].errors) == {"input", "weight", "bias"}
    assert layer.weight.grad is None and layer.weight.data.dtype == np.float32
    np.testing.assert_array_equal(mc.to_numpy(layer.weight.data), before)


class Identity(mc.Module):
    """y = x; remembers every input it sees (in a class attribute: check_layer runs on copies)."""
    seen = []

    def forward(self, x):
        Identity.seen.append(mc.to_numpy(x))
        return x

    def backward(self, grad_output):
        return grad_output


def test_a_shape_draws_float64_values_far_from_zero_and_from_each_other(backend):
    Identity.seen.clear()
    check_layer(Identity(), (2, 3, 5))
    x = Identity.seen[0]
    assert x.dtype == np.float64 and x.shape == (2, 3, 5)
    np.testing.assert_allclose(np.sort(np.abs(x).ravel()), np.arange(1, 31) / 30)   # 1/n, 2/n, ..., n/n
    assert (x > 0).any() and (x < 0).any()


# -- planted bugs: each caught, with a message naming the check and the tensor -----------------
class ZeroGradientLinear(mc.Linear):
    def backward(self, grad_output):
        return 0 * super().backward(grad_output)


class ScaledLinear(mc.Linear):
    """One gradient 1% too large: ``which`` is "input", "weight" or "bias"."""

    def __init__(self, *args, which):
        super().__init__(*args)
        self.which = which

    def backward(self, grad_output):
        dx = super().backward(grad_output)
        if self.which == "input":
            return dx * 1.01
        getattr(self, self.which).grad *= 1.01
        return dx


class NoBiasGradLinear(mc.Linear):
    def backward(self, grad_output):
        (x,) = self.saved_tensors
        self.weight.accumulate(grad_output.T @ x)            # BUG: the bias gradient is never set
        return grad_output @ self.weight.data


class Scale(mc.Module):
    """y = x * weight[c] over (N, C): the layer of the docs' ChannelScale, with a bug picked by name."""

    def __init__(self, bug=None):
        self.weight = mc.Parameter(mc.asarray(np.array([0.5, 1.0, 1.5])))
        self.bug = bug

    def forward(self, x):
        self.x = x
        if self.bug == "x scaled in place":
            x *= self.weight.data                                        # the caller's x changes
            return x
        return x * self.weight.data

    def backward(self, grad_output):
        if self.bug == "grad_output scaled in place":                   # right values, the caller's array
            self.weight.accumulate((grad_output * self.x).sum(axis=0))
            grad_output *= self.weight.data
            return grad_output
        if self.bug == "no batch sum, accumulated":
            self.weight.accumulate(grad_output * self.x)                 # (N, C), refused by accumulate
        elif self.bug == "no batch sum, assigned":
            self.weight.grad = grad_output * self.x                      # (N, C)
        elif self.bug == "overwritten":
            self.weight.grad = (grad_output * self.x).sum(axis=0)
        else:
            self.weight.accumulate((grad_output * self.x).sum(axis=0))
        if self.bug == "float64 input gradient":
            return grad_output * self.weight.data.astype(np.float64)
        return grad_output * self.weight.data


class MaxPoolToTheMinimum(mc.MaxPool2d):
    """Routes each window's gradient to its smallest element instead of its largest."""

    def forward(self, x):
        self.x = mc.to_numpy(x)
        return super().forward(x)

    def backward(self, grad_output):
        dx = reference.maxpool2d_backward_naive(mc.to_numpy(grad_output), -self.x, self.kernel_size)
        return mc.asarray(dx.astype(self.x.dtype))


PLANTED = [  # (buggy layer, input shape, first line of the message starts with)
    pytest.param(lambda: ZeroGradientLinear(4, 3), (5, 4), "gradients FAILED for input at index", id="zeros"),
    pytest.param(lambda: ScaledLinear(4, 3, which="input"), (5, 4), "gradients FAILED for input at index",
                 id="input-x1.01"),
    pytest.param(lambda: ScaledLinear(4, 3, which="weight"), (5, 4), "gradients FAILED for weight at index",
                 id="weight-x1.01"),
    pytest.param(lambda: ScaledLinear(4, 3, which="bias"), (5, 4), "gradients FAILED for bias at index",
                 id="bias-x1.01"),
    pytest.param(lambda: NoBiasGradLinear(4, 3), (5, 4),
                 "gradients FAILED for bias: bias.grad is None after backward: add the gradient in backward "
                 "with self.bias.accumulate(gradient)", id="bias-gradient-None"),
    pytest.param(lambda: Scale("no batch sum, accumulated"), (4, 3),
                 "gradients FAILED for weight: Scale.backward raised ValueError at test_testing.py:",
                 id="no-batch-sum"),
    pytest.param(lambda: Scale("no batch sum, assigned"), (4, 3),
                 "gradients FAILED for weight: gradient has shape (4, 3), expected (3,)",
                 id="no-batch-sum-assigned"),
    pytest.param(lambda: Scale("overwritten"), (4, 3),
                 "accumulation FAILED for weight: after two backward passes without zero_grad, weight.grad holds "
                 "only the second pass's gradient", id="grad-overwritten"),
    pytest.param(lambda: Scale("float64 input gradient"), (4, 3),
                 "shapes and dtypes FAILED for input: the gradient of input is float64 for a float32 input",
                 id="float64-gradient-for-float32"),
    pytest.param(lambda: MaxPoolToTheMinimum(2), (1, 2, 4, 4), "gradients FAILED for input at index",
                 id="maxpool-to-the-minimum"),
    pytest.param(lambda: Scale("grad_output scaled in place"), (4, 3),
                 "gradients FAILED for input: Scale.backward changed grad_output in place",
                 id="backward-edits-grad_output-in-place"),
    pytest.param(lambda: Scale("x scaled in place"), (4, 3),
                 "gradients FAILED for input: Scale.forward changed its input x in place",
                 id="forward-edits-x-in-place"),
]


@pytest.mark.parametrize("make, shape, first_line", PLANTED)
def test_a_planted_bug_is_caught_and_named(backend, make, shape, first_line):
    mc.manual_seed(0)
    layer = make()
    with pytest.raises(AssertionError) as caught:
        check_layer(layer, shape)
    message = str(caught.value)
    head = message.splitlines()[0]
    assert head.startswith(f"check_layer({type(layer).__name__}): {first_line}"), message
    if "at index" in first_line:                             # the index, then both values
        assert " gave " in head and "central differences" in head
    assert "  check " in message.splitlines()[1]             # then the table
    report = check_layer(layer, shape, raise_on_failure=False)
    assert not report and str(report) == message


def test_the_missing_batch_sum_message_shows_the_line_and_the_shapes(backend):
    head = str(check_layer(Scale("no batch sum, accumulated"), (4, 3), raise_on_failure=False)).splitlines()[0]
    assert "(self.weight.accumulate(grad_output * self.x)): a gradient of shape (4, 3) cannot be added to a " \
           "parameter of shape (3,)" in head


def test_the_values_at_the_worst_element_are_the_ones_reported(backend):
    mc.manual_seed(0)
    report = check_layer(ScaledLinear(4, 3, which="weight"), (5, 4), raise_on_failure=False)
    check = report["gradients"]
    assert check.verdict == "FAILED" and check.tensor == "weight" and len(check.index) == 2
    analytic, numeric = (float(v) for v in check.sentence.replace(",", "").split()[2::3])
    assert analytic == pytest.approx(1.01 * numeric, rel=1e-4)
    assert check.error == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert report["shapes and dtypes"]                     # the other checks still run


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_a_layer_right_in_float64_but_wrong_in_float32_is_caught_against_pytorch(backend):
    pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")

    class UnshiftedLogSoftmax(mc.LogSoftmax):
        """exp(x) without subtracting the max first: overflows in float32 (above 88), not in float64."""

        def forward(self, x):
            xp = mc.get_array_module(x)
            y = x - xp.log(xp.exp(x).sum(axis=1, keepdims=True))
            self._cache = (y,)
            return y

    x = 100 + np.random.default_rng(0).standard_normal((3, 5))
    report = check_layer(UnshiftedLogSoftmax(dim=1), mc.asarray(x), raise_on_failure=False,
                         torch_module=lambda nn: nn.LogSoftmax(dim=1))
    assert report["gradients"] and report["shapes and dtypes"]
    assert report["against PyTorch"].headline().startswith(
        "against PyTorch FAILED for output at index (0, 0): the layer in float32 gave -inf, PyTorch"), report


def test_a_reference_that_disagrees_is_named(backend):
    report = check_layer(mc.ReLU(), (2, 3), reference=lambda x: np.abs(x), raise_on_failure=False)
    assert report["against a reference"].headline().startswith("against a reference FAILED for output at index")
    assert "the layer gave 0, the reference" in str(report)


# -- bad input: one sentence, never a traceback from inside NumPy ---------------------------------
class NoBackward(mc.Module):
    def forward(self, x):
        return x


class NotAModule:
    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


class ReturnsNone(mc.Module):
    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        2 * grad_output                                       # forgot the return


class Raises(mc.Module):
    def forward(self, x):
        self.x = x
        return 2 * x

    def backward(self, grad_output):
        return grad_output @ self.x                           # (2, 3) @ (2, 3): shapes do not fit


@pytest.mark.parametrize("layer, x, error, sentence", [
    (NoBackward(), (2, 3), TypeError,
     "check_layer(NoBackward): NoBackward has no backward of its own: define backward(self, grad_output) in the "
     "class"),
    (NotAModule(), (2, 3), TypeError, "check_layer needs a layer, an instance of a minicnn.Module subclass with "
                                      "forward and backward, received a NotAModule"),
    (mc.ReLU, (2, 3), TypeError, "check_layer needs a layer, an instance of a minicnn.Module subclass with "
                                 "forward and backward, received the class ReLU itself"),
    (mc.ReLU(), [[1.0, 2.0]], TypeError, "check_layer(ReLU): x must be a NumPy (or CuPy) array of numbers or a "
                                         "shape tuple such as (2, 3, 4, 4), received a list"),
    (mc.ReLU(), np.array(["a"]), TypeError, "check_layer(ReLU): x must be a NumPy (or CuPy) array of numbers or "
                                            "a shape tuple such as (2, 3, 4, 4), received an array of <U1"),
    (mc.ReLU(), (2, 0), ValueError, "check_layer(ReLU): a shape x must be a tuple of positive integers such as "
                                    "(2, 3, 4, 4), received (2, 0)"),
])
def test_bad_input_is_refused_in_one_sentence(layer, x, error, sentence):
    with pytest.raises(error) as caught:
        check_layer(layer, x)
    assert str(caught.value) == sentence


@pytest.mark.parametrize("twin, sentence", [
    (lambda nn: nn.Linear(4, 3, bias=False), "the layer has 2 (weight (3, 4), bias (3,)), torch_module 1 "
                                             "(weight (3, 4))"),
    (lambda nn: nn.Linear(3, 4), "the layer has 2 (weight (3, 4), bias (3,)), torch_module 2 (weight (4, 3), "
                                 "bias (4,))"),
])
def test_a_torch_module_that_does_not_match_is_refused(twin, sentence):
    pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    with pytest.raises(ValueError) as caught:
        check_layer(mc.Linear(4, 3), (5, 4), torch_module=twin)
    assert str(caught.value) == ("check_layer(Linear): the parameters of torch_module do not match the layer's, "
                                 "which are copied into them in order: " + sentence)
    with pytest.raises(TypeError, match="torch_module must be a torch.nn.Module or a function"):
        check_layer(mc.Linear(4, 3), (5, 4), torch_module="Linear")


@pytest.mark.parametrize("layer, head", [
    (ReturnsNone(), "check_layer(ReturnsNone): gradients FAILED for input: ReturnsNone.backward returned None: "
                    "return the input gradient, an array of the input's shape"),
    (Raises(), "check_layer(Raises): gradients FAILED: Raises.backward raised ValueError at test_testing.py:"),
])
def test_a_backward_that_returns_none_or_raises_fails_with_one_sentence(backend, layer, head):
    with pytest.raises(AssertionError) as caught:
        check_layer(layer, (2, 3))
    first = str(caught.value).splitlines()[0]
    assert first.startswith(head), first
    if isinstance(layer, Raises):
        assert "(return grad_output @ self.x): matmul: " in first, first      # the line, then NumPy's words


def test_check_layer_imports_neither_torch_nor_pytest():
    code = "import sys, minicnn.testing; print(sorted({'torch', 'pytest'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
