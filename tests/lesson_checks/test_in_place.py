"""One place, minicnn_lessons.call, makes every check refuse a function that changes the caller's
arrays in place, whatever it returns: each check is fed its solution with one in-place edit added."""
import importlib

import numpy as np
import pytest

from minicnn_lessons import call

# (lesson, exercise) for every check whose function receives arrays; lesson 12's checks take classes
# (check_layer covers those), and kaiming_uniform_bound takes a shape.
EXERCISES = [("lesson00", "to_batch"), ("lesson01", "conv2d_loops"), ("lesson01", "im2col"),
             ("lesson01", "conv2d_im2col"), ("lesson02", "relu_backward"), ("lesson02", "maxpool2d_forward"),
             ("lesson02", "avgpool2d_backward"), ("lesson03", "log_softmax"), ("lesson03", "nll_loss"),
             ("lesson03", "log_softmax_backward"), ("lesson04", "numerical_gradient"),
             ("lesson04", "conv2d_backward_loops"), ("lesson04", "col2im"), ("lesson05", "sgd_step"),
             ("lesson07", "saliency_map"), ("lesson08", "confusion_matrix"),
             ("lesson09", "place_at_center_of_mass"), ("lesson10", "pca_svd"), ("lesson11", "squared_distances"),
             ("lesson13", "dead_fraction")]


def scribbling(solution):
    """The solution's answer, computed on copies; then the first array argument is changed in place."""
    def fn(*args, **kwargs):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        out = solution(*copies, **kwargs)
        first = next(a for a in args if isinstance(a, np.ndarray) and a.size)
        first.flat[0] = first.flat[0] + 1 if first.dtype.kind != "b" else not first.flat[0]
        return out
    return fn


@pytest.mark.parametrize("lesson, name", EXERCISES, ids=[f"{l}.{n}" for l, n in EXERCISES])
def test_every_check_refuses_a_change_to_the_callers_arrays(learner, verdict, lesson, name):
    module = importlib.import_module(f"minicnn_lessons.{lesson}")
    passed, text = verdict(getattr(module, f"check_{name}"),
                           learner(scribbling(getattr(module, name)), name, lesson))
    assert not passed and "in place" in text, text


def test_the_relu_backward_that_zeroes_grad_y_in_place_is_named():
    """The review's case: right values, returned in the caller's own grad_y."""
    def relu_backward(grad_y, x):
        grad_y[x <= 0] = 0
        return grad_y
    g, x = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0])
    out, error = call(relu_backward, g, x)
    assert out is None and error.startswith("it changed grad_y in place"), error


def test_arrays_inside_a_cache_are_named_and_untouched_ones_pass():
    def backward(grad_y, cache):
        cache[0][0] = 7
        return grad_y * 2
    indices = np.arange(3)
    out, error = call(backward, np.ones(3), (indices, (3,)))
    assert out is None and "changed cache[0] in place" in error
    out, error = call(lambda grad_y, cache: grad_y * 2, np.ones(3), (np.arange(3), (3,)))
    assert error is None and (out == 2).all()
