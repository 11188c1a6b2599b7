"""Lesson 06's checks pass the learner's classes built on the solutions, and give ✗ for the typical
wrong layers, losses and optimizers; the saved model's helpers find the file lessons 07-09 read.

The classes below are the notebook's (MyConv2d, MyMaxPool2d, ...), each calling functions named in
``uses``; a wrong one swaps in a function with a typical mistake, dressed as the learner's.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.layers.module import init_uniform
from minicnn_lessons import lesson02, lesson03, lesson04, lesson05, lesson06
from minicnn_lessons.lesson01 import im2col
from test_lesson03 import gradient_with_the_wrong_sign   # the wrong nll_loss of lesson 03's checks, reused
from test_lesson04 import col2im_assigning      # the wrong col2im of lesson 04's checks, reused


# ---- the notebook's classes, built on whichever functions a test gives them -------------------------


def conv_class(im2col_fn=im2col, col2im_fn=lesson04.col2im, assign_grad=False):
    class MyConv2d(mc.Module):
        uses = (im2col_fn, col2im_fn)

        def __init__(self, in_channels, out_channels, kernel_size, stride=1):
            self.out_channels, self.kernel_size, self.stride = out_channels, kernel_size, stride
            bound = 1 / np.sqrt(in_channels * kernel_size ** 2)
            self.weight = mc.Parameter(init_uniform((out_channels, in_channels, kernel_size, kernel_size), bound))
            self.bias = mc.Parameter(init_uniform((out_channels,), bound))

        def forward(self, x):
            N, C, H, W = x.shape
            K, S, O = self.kernel_size, self.stride, self.out_channels
            OH, OW = (H - K) // S + 1, (W - K) // S + 1
            cols = im2col_fn(x, K, K, S)
            y = cols @ self.weight.data.reshape(O, -1).T + self.bias.data
            self.save_for_backward(cols, x.shape)
            return y.reshape(N, OH, OW, O).transpose(0, 3, 1, 2)

        def backward(self, grad_output):
            cols, x_shape = self.saved_tensors
            K, O = self.kernel_size, self.out_channels
            g = grad_output.transpose(0, 2, 3, 1).reshape(-1, O)
            if assign_grad:                                   # the mistake: .grad replaced, not added to
                self.weight.grad = (g.T @ cols).reshape(self.weight.shape)
                self.bias.grad = g.sum(axis=0)
            else:
                self.weight.accumulate((g.T @ cols).reshape(self.weight.shape))
                self.bias.accumulate(g.sum(axis=0))
            return col2im_fn(g @ self.weight.data.reshape(O, -1), x_shape, K, K, self.stride)
    return MyConv2d


def pool_class(fwd=lesson02.maxpool2d_forward, bwd=lesson02.maxpool2d_backward):
    class MyMaxPool2d(mc.Module):
        uses = (fwd, bwd)

        def __init__(self, kernel_size):
            self.kernel_size = kernel_size

        def forward(self, x):
            y, cache = fwd(x, self.kernel_size, self.kernel_size)
            self.save_for_backward(cache)
            return y

        def backward(self, grad_output):
            return bwd(grad_output, self.saved_tensors[0])
    return MyMaxPool2d


def relu_class(bwd=lesson02.relu_backward):
    class MyReLU(mc.Module):
        uses = (bwd,)

        def forward(self, x):
            self.save_for_backward(x)
            return np.maximum(x, 0)

        def backward(self, grad_output):
            return bwd(grad_output, self.saved_tensors[0])
    return MyReLU


def log_softmax_class(fwd=lesson03.log_softmax, bwd=lesson03.log_softmax_backward):
    class MyLogSoftmax(mc.Module):
        uses = (fwd, bwd)

        def forward(self, z):
            y = fwd(z)
            self.save_for_backward(y)
            return y

        def backward(self, grad_output):
            return bwd(grad_output, self.saved_tensors[0])
    return MyLogSoftmax


def loss_class(nll=lesson03.nll_loss):
    class MyNLLLoss(mc.Module):
        uses = (nll,)

        def forward(self, log_probs, target):
            loss, grad = nll(log_probs, target)
            self.save_for_backward(grad)
            return loss

        def backward(self):
            return self.saved_tensors[0]
    return MyNLLLoss


def sgd_class(rule=lesson05.sgd_step, keep_velocity=True, clear=True):
    class MySGD:
        uses = (rule,)

        def __init__(self, params, lr, momentum=0.0):
            self.params, self.lr, self.momentum = list(params), lr, momentum
            self.velocities = [None] * len(self.params)

        def zero_grad(self):
            for p in self.params:
                if clear:
                    p.grad = None

        def step(self):
            for i, p in enumerate(self.params):
                if p.grad is not None:
                    p.data, v = rule(p.data, p.grad, self.velocities[i], self.lr, self.momentum)
                    if keep_velocity:
                        self.velocities[i] = v
    return MySGD


LAYERS = {   # name: (a layer of the class, input shape, minicnn's twin)
    "conv": (lambda cls: cls(2, 3, 3), (2, 2, 7, 7), lambda: mc.Conv2d(2, 3, 3)),
    "pool": (lambda cls: cls(2), (2, 3, 6, 6), lambda: mc.MaxPool2d(2)),
    "relu": (lambda cls: cls(), (2, 3, 4, 4), lambda: mc.ReLU()),
    "log_softmax": (lambda cls: cls(), (4, 10), lambda: mc.LogSoftmax(dim=1)),
}


def check(kind, cls, verdict):
    make, shape, twin = LAYERS[kind]
    return verdict(lambda layer: lesson06.check_my_layer(layer, shape, twin()), make(cls))


def failed(text):
    return "\n".join(line for line in text.splitlines() if line.startswith("✗"))


# ---- the right classes pass ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind, cls", [("conv", conv_class()), ("pool", pool_class()),
                                       ("relu", relu_class()), ("log_softmax", log_softmax_class())])
def test_the_layers_on_the_learners_functions_pass(learner, verdict, kind, cls):
    cls.uses = tuple(learner(f, f.__name__, "lesson0x") for f in cls.uses)
    passed, text = check(kind, cls, verdict)
    assert passed and text.count("✓") == 2 and "backward against minicnn's" in text, text
    assert "your " in text and "the solution's" not in text, text


def test_the_loss_and_the_optimizer_on_the_solutions_pass(verdict):
    passed, text = verdict(lesson06.check_my_loss, loss_class()())
    assert passed and text.count("✓") == 3, text
    passed, text = verdict(lesson06.check_my_optimizer, sgd_class())
    assert passed and text.count("✓") == 5, text


# ---- wrong layers ---------------------------------------------------------------------------------------


def im2col_in_float64(x_pad, KH, KW, stride=1):
    return im2col(x_pad, KH, KW, stride).astype(np.float64)


def maxpool_backward_to_the_window_corner(grad_y, cache):
    """Every window's gradient to its top-left pixel, not to its winner."""
    indices, (N, C, H, W) = cache
    dx = np.zeros((N, C, H, W), dtype=grad_y.dtype)
    dx[:, :, ::2, ::2] = grad_y
    return dx


def relu_backward_identity(grad_y, x):
    return grad_y


def log_softmax_backward_for_ones(grad_y, y):
    """Right only for an upstream gradient whose rows sum to 1: lesson 04's trap."""
    return grad_y - np.exp(y)


@pytest.mark.parametrize("kind, cls, says", [
    ("conv", conv_class(col2im_fn=col2im_assigning), "gradients FAILED for input"),
    ("conv", conv_class(assign_grad=True), "accumulation FAILED"),
    ("conv", conv_class(im2col_fn=im2col_in_float64), "shapes and dtypes FAILED"),
    ("pool", pool_class(bwd=maxpool_backward_to_the_window_corner), "gradients FAILED for input"),
    ("relu", relu_class(relu_backward_identity), "gradients FAILED for input"),
    ("log_softmax", log_softmax_class(bwd=log_softmax_backward_for_ones), "gradients FAILED for input"),
])
def test_wrong_layers_are_caught(learner, verdict, kind, cls, says):
    cls.uses = tuple(learner(f, f.__name__, "lesson0x") for f in cls.uses)
    passed, text = check(kind, cls, verdict)
    assert not passed and says in failed(text), text
    assert "FAILED" in text.split("\n", 2)[-1], "the table of check_layer is printed too"


def test_a_wrong_backward_is_also_caught_against_the_twin(learner, verdict):
    cls = relu_class(learner(relu_backward_identity, "relu_backward", "lesson02"))
    passed, text = check("relu", cls, verdict)
    assert "✗ MyReLU (your relu_backward): backward against minicnn's ReLU" in text, text


def test_a_layer_on_the_solutions_that_fails_is_a_bug_in_the_lessons():
    relu_backward_identity.used_solution = True
    try:
        with pytest.raises(AssertionError, match="failed its own check"):
            lesson06.check_my_layer(relu_class(relu_backward_identity)(), (2, 3), mc.ReLU())
    finally:
        del relu_backward_identity.used_solution


# ---- wrong losses ---------------------------------------------------------------------------------------


def nll_summed(log_probs, target):
    loss, grad = lesson03.nll_loss(log_probs, target)
    return loss * len(target), grad * len(target)


def nll_array(log_probs, target):
    loss, grad = lesson03.nll_loss(log_probs, target)
    return np.array(loss), grad


def nll_float64_gradient(log_probs, target):
    loss, grad = lesson03.nll_loss(log_probs, target)
    return loss, grad.astype(np.float64)


@pytest.mark.parametrize("wrong, says", [
    (nll_summed, "the sum over the batch instead of the mean"),
    (gradient_with_the_wrong_sign, "differs from minicnn.NLLLoss"),
    (nll_array, "return the loss as a Python float"),
    (nll_float64_gradient, "float64 for a batch of 3, 5 classes, float32"),
])
def test_wrong_losses_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson06.check_my_loss, loss_class(learner(wrong, "nll_loss", "lesson03"))())
    assert not passed and says in failed(text), text


# ---- wrong optimizers -----------------------------------------------------------------------------------


def sgd_without_momentum(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    return param - lr * grad, None


def optimizer_with_a_fixed_lr():
    base = sgd_class()

    class FixedLR(base):
        def __init__(self, params, lr, momentum=0.0):
            super().__init__(params, lr, momentum)
            self.start_lr = lr

        def step(self):                    # the mistake: reads the learning rate it was built with
            lr, self.lr = self.lr, self.start_lr
            super().step()
            self.lr = lr
    return FixedLR


@pytest.mark.parametrize("make, says", [
    (sgd_class(keep_velocity=False), "is it kept from one step to the next"),
    (sgd_class(rule=sgd_without_momentum), "after step 2"),
    (optimizer_with_a_fixed_lr(), "does the step read self.lr"),
    (sgd_class(clear=False), "zero_grad() leaves every .grad"),
])
def test_wrong_optimizers_are_caught(verdict, make, says):
    passed, text = verdict(lesson06.check_my_optimizer, make)
    assert not passed and says in failed(text), text


# ---- whose pieces -------------------------------------------------------------------------------------


def test_own_pieces_says_which_functions_are_the_learners(learner):
    mine = learner(lesson02.relu_backward, "relu_backward", "lesson02")
    solution = learner(lesson02.maxpool2d_backward, "maxpool2d_backward", "lesson02")
    solution.used_solution = True
    lines = lesson06.own_pieces([relu_class(mine), pool_class(bwd=solution),
                                 pool_class(fwd=learner(lesson02.maxpool2d_forward, "maxpool2d_forward",
                                                            "lesson02"), bwd=solution)])
    assert "all yours" in lines[0] and "your relu_backward" in lines[0]
    assert "partly yours (maxpool2d_forward)" in lines[2] and "the solution's maxpool2d_backward" in lines[2]


# ---- the run, and the saved model, for lessons 07-09 ---------------------------------------------------


def test_fast_mode_runs_fewer_digits_with_the_same_settings():
    fast, normal = lesson06.settings(fast=True), lesson06.settings(fast=False)
    assert fast["train_digits"] < normal["train_digits"] and fast["lr"] == normal["lr"]
    assert normal["val_size"] == 5000 and normal["split_seed"] == 0       # minicnn train's split


def test_saved_model_path_is_the_file_lessons_07_to_09_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_LESSONS_DIR", str(tmp_path))
    assert lesson06.saved_model_path(fast=False) == tmp_path / "mnist-lenet.npz"
    assert lesson06.saved_model_path(fast=True) == tmp_path / "mnist-lenet-fast.npz"
    monkeypatch.setenv("MINICNN_FAST", "1")
    assert lesson06.saved_model_path() == tmp_path / "mnist-lenet-fast.npz"


def test_the_saved_model_is_a_lenet_in_minicnns_layers_with_the_given_weights(tmp_path, monkeypatch, capsys):
    from minicnn.models import lenet
    from minicnn.train import History

    monkeypatch.setenv("MINICNN_LESSONS_DIR", str(tmp_path))
    mc.manual_seed(3)
    trained = lenet()
    history = History()
    history.val_acc.append(0.5)
    lesson06.save_for_later_lessons(trained.state_dict(), history, 0.25, fast=False)
    loaded = lesson06.trained_model(fast=False)
    assert [type(a) for a in loaded.layers] == [type(b) for b in trained.layers]
    assert loaded.metadata["test_accuracy"] == 0.25 and loaded.metadata["trained"] is True
    assert all((a.data == b.data).all() for a, b in zip(trained.parameters(), loaded.parameters()))
    assert "training it now" not in capsys.readouterr().out
