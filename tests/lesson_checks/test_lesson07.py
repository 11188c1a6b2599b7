"""Lesson 07's check passes the solution and gives ✗ for the typical wrong saliency maps."""
import numpy as np
import pytest

import minicnn as mc
from minicnn_lessons import lesson07


def _backward(net, x, upstream_at=None, ones=False):
    out = net.forward(x)
    g = np.ones_like(out) if ones else np.zeros_like(out)
    if upstream_at is not None:
        g[0, upstream_at] = 1.0
    return net.backward(g, input_grad=True)


def signed_gradient(model, x, target):
    return _backward(mc.Sequential(*model.layers[:-1]), x, target)[0, 0]


def gradient_of_the_log_probability(model, x, target):
    return np.abs(_backward(model, x, target)[0, 0])


def map_of_the_predicted_class(model, x, target):
    scorer = mc.Sequential(*model.layers[:-1])
    predicted = int(scorer.forward(x).argmax())
    return np.abs(_backward(scorer, x, predicted)[0, 0])


def upstream_gradient_of_ones(model, x, target):
    return np.abs(_backward(mc.Sequential(*model.layers[:-1]), x, ones=True)[0, 0])


_kept = {}


def one_hot_never_zeroed(model, x, target):
    """Keeps its one-hot buffer between calls and only ever sets a 1: after a call for class a,
    a call for class b gets the gradient of s_a + s_b."""
    scorer = mc.Sequential(*model.layers[:-1])
    scores = scorer.forward(x)
    key = (id(model), scores.shape, scores.dtype)
    one_hot = _kept.setdefault(key, np.zeros_like(scores))
    one_hot[0, target] = 1.0
    return np.abs(scorer.backward(one_hot, input_grad=True)[0, 0])


def gradient_of_the_first_weights(model, x, target):
    """Reads .grad (which accumulates) of the first Conv2d: a gradient with respect to weights."""
    _backward(mc.Sequential(*model.layers[:-1]), x, target)
    return np.abs(model.layers[0].weight.grad)


def keeps_the_batch_axis(model, x, target):
    return np.abs(_backward(mc.Sequential(*model.layers[:-1]), x, target)[0])


def test_the_solution_passes(learner, verdict):
    passed, text = verdict(lesson07.check_saliency_map,
                           learner(lesson07.saliency_map, "saliency_map", "lesson07"))
    assert passed, text
    assert text.count("✓") == 4 and "finite differences" in text


@pytest.mark.parametrize("wrong, says", [
    (signed_gradient, "the map asked for is its absolute value"),
    (gradient_of_the_log_probability, "gradient of the log-probability"),
    (map_of_the_predicted_class, "the map of the predicted class"),
    (upstream_gradient_of_ones, "the upstream gradient must be one-hot"),
    (one_hot_never_zeroed, "again (nothing may carry over"),
    (gradient_of_the_first_weights, "That is the shape of a weight"),
    (keeps_the_batch_axis, "Drop the batch and channel axes"),
])
def test_wrong_saliency_maps_are_caught(learner, verdict, wrong, says):
    _kept.clear()
    passed, text = verdict(lesson07.check_saliency_map, learner(wrong, "saliency_map", "lesson07"))
    assert not passed and says in text, text


def test_a_map_never_zeroed_fails_on_the_second_class_not_the_first(learner, verdict):
    _kept.clear()
    passed, text = verdict(lesson07.check_saliency_map,
                           learner(one_hot_never_zeroed, "saliency_map", "lesson07"))
    assert not passed
    assert "✗ your saliency_map is wrong for class" in text and "the small network's prediction" in text
    assert "right for: class" in text and "least likely" in text.split("right for:")[1]


def test_the_check_leaves_minicnns_random_numbers_alone():
    mc.manual_seed(5)
    expected = mc.backend.cpu_rng().random(3)
    mc.manual_seed(5)
    lesson07._networks()
    assert np.array_equal(mc.backend.cpu_rng().random(3), expected)


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson07.check_saliency_map, learner(lambda *a: None, "saliency_map", "lesson07"))
    assert not passed and "returned None" in text
