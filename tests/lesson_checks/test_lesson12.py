"""Lesson 12's checks pass the solutions and catch the typical wrong layers.

Each wrong layer below is a mistake a learner makes in LeakyReLU or ChannelScale; its test asserts
that the check returns False and that a ✗ line names the check of minicnn.testing.check_layer that
caught it (and, where the lesson offers one, the hint). Among them, the one the issue names: a
layer that overwrites .grad instead of adding to it.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn_lessons import lesson12


def failed_lines(text):
    return "\n".join(line for line in text.splitlines() if line.startswith(("✗", "    hint")))


def assert_caught(passed, text, check, message=""):
    assert not passed, text
    assert f"{check} FAILED" in failed_lines(text), text
    assert message in failed_lines(text), text


# ---------------------------------------------------------------- the solutions, and the decorator

def test_the_solutions_pass_both_checks(learner, verdict):
    for name, check in [("LeakyReLU", lesson12.check_leaky_relu),
                        ("ChannelScale", lesson12.check_channel_scale)]:
        passed, text = verdict(check, learner(getattr(lesson12, name), name, "lesson12"))
        assert passed and f"Checking your {name}" in text, text
        for row in ["gradients", "shapes and dtypes", "against a reference"]:
            assert f"✓ your {name}: {row}" in text, text
    assert "✓ your ChannelScale: accumulation" in text, text


def unwritten_leaky_relu():
    @lesson12.layer_exercise
    class LeakyReLU(mc.Module):
        def __init__(self, negative_slope=0.01):
            self.negative_slope = negative_slope

        def forward(self, x):
            return None

        def backward(self, grad_output):
            return None
    return LeakyReLU


def test_an_unwritten_layer_is_answered_by_the_solution_and_checked_as_its(verdict):
    LeakyReLU = unwritten_leaky_relu()
    layer = LeakyReLU(0.1)
    y = layer.forward(np.array([-2.0, 3.0]))
    assert np.allclose(y, [-0.2, 3.0]) and LeakyReLU.used_solution is True
    passed, text = verdict(lesson12.check_leaky_relu, LeakyReLU)
    assert passed and "Checking the solution's LeakyReLU" in text and "✓ the solution's LeakyReLU" in text


def test_a_half_written_layer_is_checked_as_the_learners_and_says_which_part_is_whose(verdict):
    @lesson12.layer_exercise
    class ChannelScale(mc.Module):
        def __init__(self, channels):
            self.weight = mc.Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

        def forward(self, x):
            self.x = x
            return x * self.weight.data[None, :, None, None]

        def backward(self, grad_output):
            # written, but the return is missing: what it added to .grad must not count twice
            self.weight.accumulate((grad_output * self.x).sum(axis=(0, 2, 3)))

    passed, text = verdict(lesson12.check_channel_scale, ChannelScale)
    assert passed and ChannelScale.used_solution is False, text
    assert "Checking your ChannelScale (forward: yours, backward: the solution's)" in text, text


def test_a_wrong_solution_raises_instead_of_printing_a_cross(monkeypatch):
    LeakyReLU = unwritten_leaky_relu()
    monkeypatch.setattr(lesson12.LeakyReLU, "backward",
                        lambda self, grad_output: np.where(self.x > 0, grad_output, 0 * grad_output))
    with pytest.raises(AssertionError, match="failed its own check"):
        lesson12.check_leaky_relu(LeakyReLU)


def test_the_decorator_refuses_a_class_the_lesson_does_not_have():
    with pytest.raises(NameError, match="no exercise class named Cube"):
        @lesson12.layer_exercise
        class Cube(mc.Module):
            def forward(self, x):
                return x ** 3

            def backward(self, grad_output):
                return 3 * grad_output


# ---------------------------------------------------------------- LeakyReLU

class LeakyBase(mc.Module):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.negative_slope * x)


class SlopeZero(LeakyBase):                      # ReLU's backward, copied
    def backward(self, grad_output):
        return np.where(self.x > 0, grad_output, 0 * grad_output)


class SlopeForgotten(LeakyBase):                 # the gradient passes unchanged everywhere
    def backward(self, grad_output):
        return grad_output


class SlopeInverted(LeakyBase):                  # divides by the slope
    def backward(self, grad_output):
        return np.where(self.x > 0, grad_output, grad_output / self.negative_slope)


class SlopesSwapped(LeakyBase):                  # negative_slope on the positive side
    def backward(self, grad_output):
        return np.where(self.x > 0, self.negative_slope * grad_output, grad_output)


class HardCodedSlope(mc.Module):                 # 0.01 written in, whatever the constructor got
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0.01 * x)

    def backward(self, grad_output):
        return np.where(self.x > 0, grad_output, 0.01 * grad_output)


class Float64Gradient(LeakyBase):                # a slope array built from Python floats
    def backward(self, grad_output):
        return grad_output * np.where(self.x > 0, 1.0, self.negative_slope)


class NoCache(mc.Module):                        # forward keeps nothing for backward
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, grad_output):
        return np.where(self.x > 0, grad_output, self.negative_slope * grad_output)


x = np.linspace(-1.0, 1.0, 96).reshape(2, 3, 4, 4)   # a notebook's global x, left from another cell


class GlobalInsteadOfCache(mc.Module):           # backward reads the notebook's x, not its input
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, inputs):
        return np.where(inputs > 0, inputs, self.negative_slope * inputs)

    def backward(self, grad_output):
        return np.where(x > 0, grad_output, self.negative_slope * grad_output)


class WrongForwardConsistentBackward(mc.Module):  # the slope on the wrong side, in both passes
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, self.negative_slope * x, x)

    def backward(self, grad_output):
        return np.where(self.x > 0, self.negative_slope * grad_output, grad_output)


class InPlace(mc.Module):                        # scales the caller's array in place
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        x[x < 0] *= self.negative_slope
        self.x = x
        return x

    def backward(self, grad_output):
        return np.where(self.x > 0, grad_output, self.negative_slope * grad_output)


WRONG_LEAKY_RELUS = {
    "wrong slope in backward: 0, as in ReLU": (SlopeZero, "gradients", "0, ReLU's slope"),
    "slope forgotten in backward": (SlopeForgotten, "gradients", "1, as if x were positive"),
    "1 / slope in backward": (SlopeInverted, "gradients", "1 / negative_slope"),
    "slopes swapped in backward": (SlopesSwapped, "gradients", "negative_slope where x > 0"),
    "slope hard-coded to 0.01": (HardCodedSlope, "against PyTorch", ""),
    "float64 gradient for float32 input": (Float64Gradient, "shapes and dtypes", "float64"),
    "input not cached": (NoCache, "gradients", "cache"),
    "a global x instead of the cache": (GlobalInsteadOfCache, "gradients", ""),
    "wrong forward with a matching backward": (WrongForwardConsistentBackward, "against PyTorch", ""),
    "forward modifies its input in place": (InPlace, "gradients", "changed its input x in place"),
}


@pytest.mark.parametrize("name", WRONG_LEAKY_RELUS)
def test_a_wrong_leaky_relu_is_caught(name, learner, verdict):
    wrong, check, message = WRONG_LEAKY_RELUS[name]
    if check == "against PyTorch":     # without it, the reference catches these (test below)
        pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch==2.13.0")
    assert_caught(*verdict(lesson12.check_leaky_relu, learner(wrong, "LeakyReLU", "lesson12")),
                  check, message)


def test_a_wrong_forward_is_caught_by_the_reference_without_pytorch(learner, verdict, monkeypatch):
    """Where PyTorch is missing its check is skipped; the reference forward still catches this."""
    monkeypatch.setattr(lesson12, "_torch_leaky_relu", lambda slope: None)
    passed, text = verdict(lesson12.check_leaky_relu,
                           learner(WrongForwardConsistentBackward, "LeakyReLU", "lesson12"))
    assert_caught(passed, text, "against a reference")
    assert "skipped: accumulation (no parameters); against PyTorch" in text


# ---------------------------------------------------------------- ChannelScale

class ScaleBase(mc.Module):
    def __init__(self, channels):
        self.weight = mc.Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

    def forward(self, x):
        self.x = x
        return x * self.weight.data[None, :, None, None]

    def dx(self, grad_output):
        return grad_output * self.weight.data[None, :, None, None]


class OverwritesGrad(ScaleBase):                 # the issue's: .grad replaced, not added to
    def backward(self, grad_output):
        self.weight.grad = (grad_output * self.x).sum(axis=(0, 2, 3))
        return self.dx(grad_output)


class NoBatchSum(ScaleBase):                     # one gradient per image, (N, C)
    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.x).sum(axis=(2, 3)))
        return self.dx(grad_output)


class NoBatchSumAssigned(ScaleBase):             # the same, assigned: no accumulate to refuse it
    def backward(self, grad_output):
        self.weight.grad = (grad_output * self.x).sum(axis=(2, 3))
        return self.dx(grad_output)


class BatchMean(ScaleBase):                      # averages over the batch instead of summing
    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.x).mean(axis=0).sum(axis=(1, 2)))
        return self.dx(grad_output)


class OutputInsteadOfInput(mc.Module):           # caches y = x * weight, and uses it as if it were x
    def __init__(self, channels):
        self.weight = mc.Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

    def forward(self, x):
        self.y = x * self.weight.data[None, :, None, None]
        return self.y

    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.y).sum(axis=(0, 2, 3)))
        return grad_output * self.weight.data[None, :, None, None]


class ScaleNoCache(mc.Module):
    def __init__(self, channels):
        self.weight = mc.Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

    def forward(self, x):
        return x * self.weight.data[None, :, None, None]

    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.x).sum(axis=(0, 2, 3)))
        return grad_output * self.weight.data[None, :, None, None]


class Float64WeightGradient(ScaleBase):          # summed in float64 "for accuracy"
    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.x).sum(axis=(0, 2, 3), dtype=np.float64))
        return self.dx(grad_output)


class InputGradientWithoutWeight(ScaleBase):     # dL/dx = grad_output, the weight forgotten
    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.x).sum(axis=(0, 2, 3)))
        return grad_output


class WeightOnTheBatchAxis(mc.Module):           # broadcasts the weight along N instead of C
    def __init__(self, channels):
        self.weight = mc.Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

    def forward(self, x):
        self.x = x
        return x * self.weight.data[:, None, None, None]

    def backward(self, grad_output):
        self.weight.accumulate((grad_output * self.x).sum(axis=(0, 2, 3)))
        return grad_output * self.weight.data[:, None, None, None]


WRONG_CHANNEL_SCALES = {
    "overwrites .grad instead of accumulating": (OverwritesGrad, "accumulation", "overwrites .grad"),
    "missing sum over the batch": (NoBatchSum, "gradients", "sums over the batch axis N"),
    "missing sum over the batch, assigned": (NoBatchSumAssigned, "gradients", "weight"),
    "mean over the batch": (BatchMean, "gradients", "weight"),
    "the output cached instead of the input": (OutputInsteadOfInput, "gradients", "keep the input"),
    "input not cached": (ScaleNoCache, "gradients", "cache"),
    "float64 gradient for float32 input": (Float64WeightGradient, "shapes and dtypes", "float64"),
    "input gradient without the weight": (InputGradientWithoutWeight, "gradients", "grad_output * weight"),
    "weight broadcast along the batch": (WeightOnTheBatchAxis, "gradients", ""),
}


@pytest.mark.parametrize("name", WRONG_CHANNEL_SCALES)
def test_a_wrong_channel_scale_is_caught(name, learner, verdict):
    wrong, check, message = WRONG_CHANNEL_SCALES[name]
    assert_caught(*verdict(lesson12.check_channel_scale, learner(wrong, "ChannelScale", "lesson12")),
                  check, message)


def test_an_overwritten_grad_fails_only_the_accumulation_check(learner, verdict):
    """One backward pass gives the right gradient: only accumulation can see this mistake."""
    passed, text = verdict(lesson12.check_channel_scale, learner(OverwritesGrad, "ChannelScale", "lesson12"))
    assert not passed
    assert [line.split(":")[1].strip() for line in text.splitlines() if line.startswith("✗")] == \
        ["accumulation FAILED for weight"], text


def test_a_layer_that_is_not_a_module_is_refused_with_a_cross(learner, verdict):
    class NotAModule:
        def __init__(self, negative_slope=0.01):
            self.negative_slope = negative_slope

        def forward(self, x):
            return x

        def backward(self, grad_output):
            return grad_output

    passed, text = verdict(lesson12.check_leaky_relu, learner(NotAModule, "LeakyReLU", "lesson12"))
    assert not passed and "check_layer could not run" in text and "minicnn.Module" in text
