"""Bad input: one clear sentence that names the layer, what it expected and what it received."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.models import lenet


def zeros(xp, *shape):
    return xp.zeros(shape, dtype=np.float32)


def labels(xp, *values):
    return xp.asarray(np.array(values, dtype=np.int64))


# (what goes wrong given the array module xp, exception, words the message must contain)
BAD_INPUT = [
    # wrong number of dimensions
    pytest.param(lambda xp: mc.Conv2d(1, 4, 3)(zeros(xp, 1, 28, 28)),
                 ValueError, ["Conv2d", "4-D", "(1, 28, 28)"], id="conv-3d-input"),
    pytest.param(lambda xp: mc.MaxPool2d(2)(zeros(xp, 28, 28)),
                 ValueError, ["MaxPool2d", "4-D", "(28, 28)"], id="maxpool-2d-input"),
    pytest.param(lambda xp: mc.AvgPool2d(2)(zeros(xp, 1, 1, 1, 4, 4)),
                 ValueError, ["AvgPool2d", "4-D", "(1, 1, 1, 4, 4)"], id="avgpool-5d-input"),
    pytest.param(lambda xp: mc.Linear(784, 10)(zeros(xp, 2, 1, 28, 28)),
                 ValueError, ["Linear", "2-D", "(2, 1, 28, 28)"], id="linear-without-flatten"),
    pytest.param(lambda xp: mc.Flatten()(zeros(xp, 5)),
                 ValueError, ["Flatten", "(5,)"], id="flatten-1d-input"),
    pytest.param(lambda xp: mc.LogSoftmax(dim=2)(zeros(xp, 3, 4)),
                 ValueError, ["LogSoftmax", "dim=2", "(3, 4)"], id="logsoftmax-missing-dim"),
    pytest.param(lambda xp: mc.Conv2d(1, 4, 3)([[1.0, 2.0]]),
                 ValueError, ["Conv2d", "list"], id="conv-not-an-array"),
    # channel and feature counts
    pytest.param(lambda xp: mc.Conv2d(3, 4, 3)(zeros(xp, 2, 1, 8, 8)),
                 ValueError, ["Conv2d", "3 input channels", "(2, 1, 8, 8)"], id="conv-channels"),
    pytest.param(lambda xp: lenet()(zeros(xp, 2, 3, 28, 28)),
                 ValueError, ["Conv2d", "1 input channels", "(2, 3, 28, 28)"], id="rgb-into-lenet"),
    pytest.param(lambda xp: mc.Linear(10, 2)(zeros(xp, 4, 12)),
                 ValueError, ["Linear", "10 input features", "(4, 12)"], id="linear-features"),
    pytest.param(lambda xp: lenet()(zeros(xp, 2, 1, 32, 32)),
                 ValueError, ["Linear", "384 input features", "(2, 600)"], id="32x32-into-lenet"),
    # window larger than the padded input
    pytest.param(lambda xp: mc.Conv2d(1, 1, 5, padding=1)(zeros(xp, 1, 1, 2, 2)),
                 ValueError, ["Conv2d", "5x5", "4x4", "(1, 1, 2, 2)"], id="conv-kernel-too-large"),
    pytest.param(lambda xp: mc.MaxPool2d(3)(zeros(xp, 1, 1, 2, 2)),
                 ValueError, ["MaxPool2d", "3x3", "2x2", "(1, 1, 2, 2)"], id="maxpool-window-too-large"),
    pytest.param(lambda xp: mc.AvgPool2d((1, 4))(zeros(xp, 1, 1, 3, 3)),
                 ValueError, ["AvgPool2d", "1x4", "3x3", "(1, 1, 3, 3)"], id="avgpool-window-too-large"),
    # losses
    pytest.param(lambda xp: mc.NLLLoss()(zeros(xp, 4, 10), labels(xp, 0, 1, 10, 2)),
                 ValueError, ["NLLLoss", "label 10", "0..9"], id="nll-label-too-large"),
    pytest.param(lambda xp: mc.NLLLoss()(zeros(xp, 4, 10), labels(xp, 0, -1, 3, 2)),
                 ValueError, ["NLLLoss", "label -1", "0..9"], id="nll-label-negative"),
    pytest.param(lambda xp: mc.CrossEntropyLoss()(zeros(xp, 2, 3), labels(xp, 3, 0)),
                 ValueError, ["CrossEntropyLoss", "label 3", "0..2"], id="ce-label-too-large"),
    pytest.param(lambda xp: mc.NLLLoss()(zeros(xp, 4, 10), labels(xp, 0, 1, 2)),
                 ValueError, ["NLLLoss", "(4,)", "(3,)"], id="nll-target-length"),
    pytest.param(lambda xp: mc.NLLLoss()(zeros(xp, 4, 10), zeros(xp, 4)),
                 ValueError, ["NLLLoss", "integer", "float32"], id="nll-float-target"),
    pytest.param(lambda xp: mc.CrossEntropyLoss()(zeros(xp, 10), labels(xp, 1)),
                 ValueError, ["CrossEntropyLoss", "(N, num_classes)", "(10,)"], id="ce-1d-scores"),
]


@pytest.mark.parametrize("trigger, error, words", BAD_INPUT)
def test_bad_input_is_one_clear_sentence(xp, trigger, error, words):
    with pytest.raises(error) as e:
        trigger(xp)
    msg = str(e.value)
    assert type(e.value) is error, f"{type(e.value).__name__}: {msg}"
    assert "\n" not in msg, f"not one sentence: {msg!r}"
    missing = [w for w in words if w not in msg]
    assert not missing, f"message {msg!r} does not mention {missing}"


BACKWARD_FIRST = [
    pytest.param(lambda: mc.Conv2d(1, 2, 3), (1, 2, 3, 3), id="Conv2d"),
    pytest.param(lambda: mc.MaxPool2d(2), (1, 1, 2, 2), id="MaxPool2d"),
    pytest.param(lambda: mc.AvgPool2d(2), (1, 1, 2, 2), id="AvgPool2d"),
    pytest.param(mc.ReLU, (2, 3), id="ReLU"),
    pytest.param(mc.Flatten, (2, 3), id="Flatten"),
    pytest.param(lambda: mc.Linear(3, 2), (2, 2), id="Linear"),
    pytest.param(mc.LogSoftmax, (2, 3), id="LogSoftmax"),
    pytest.param(mc.Dropout, (2, 3), id="Dropout"),
    pytest.param(lambda: lenet(n_features=4), (2, 10), id="Sequential"),
]


@pytest.mark.parametrize("make, grad_shape", BACKWARD_FIRST)
def test_backward_before_forward_names_the_layer(xp, make, grad_shape):
    layer = make()
    last = layer[-1] if isinstance(layer, mc.Sequential) else layer
    with pytest.raises(RuntimeError) as e:
        layer.backward(zeros(xp, *grad_shape))
    msg = str(e.value)
    assert f"{type(last).__name__}.backward" in msg and "before forward" in msg and "\n" not in msg, msg


@pytest.mark.parametrize("loss", [mc.NLLLoss, mc.CrossEntropyLoss])
def test_loss_backward_before_forward_names_the_loss(loss):
    with pytest.raises(RuntimeError, match=f"{loss.__name__}.backward was called before forward"):
        loss().backward()


@pytest.mark.parametrize("make, error, words", [
    pytest.param(lambda: mc.Conv2d(1, 1, 3, stride=0), ValueError, ["Conv2d", "stride=(0, 0)"], id="conv-stride-0"),
    pytest.param(lambda: mc.Conv2d(1, 1, 3, padding=-1), ValueError, ["Conv2d", "padding=(-1, -1)"],
                 id="conv-negative-padding"),
    pytest.param(lambda: mc.Conv2d(1, 1, (3, 3, 3)), ValueError, ["kernel_size", "(3, 3, 3)"],
                 id="conv-kernel-triple"),
    pytest.param(lambda: mc.MaxPool2d(2, padding=2), ValueError, ["MaxPool2d", "padding", "half"],
                 id="pool-padding-over-half"),
    pytest.param(lambda: mc.AvgPool2d(0), ValueError, ["AvgPool2d", "kernel_size=(0, 0)"], id="pool-kernel-0"),
    pytest.param(lambda: mc.Dropout(1.0), ValueError, ["Dropout", "[0, 1)", "1.0"], id="dropout-p-1"),
    pytest.param(lambda: mc.SGD(mc.Linear(2, 2).parameters(), lr=-1), ValueError, ["SGD", "lr=-1"],
                 id="sgd-negative-lr"),
    pytest.param(lambda: mc.SGD(mc.Linear(2, 2).parameters(), lr=0.1, momentum=-0.5), ValueError,
                 ["SGD", "momentum=-0.5"], id="sgd-negative-momentum"),
    pytest.param(lambda: mc.SGD(mc.Linear(2, 2).parameters(), lr=0.1, nesterov=True), ValueError,
                 ["SGD", "nesterov", "momentum > 0"], id="sgd-nesterov-without-momentum"),
    pytest.param(lambda: mc.SGD([np.zeros(3)], lr=0.1), TypeError, ["SGD", "ndarray", "model.parameters()"],
                 id="sgd-array-not-parameter"),
])
def test_bad_constructor_arguments(make, error, words):
    with pytest.raises(error) as e:
        make()
    msg = str(e.value)
    assert "\n" not in msg and not [w for w in words if w not in msg], msg
