"""Lesson 03's checks pass the solutions and give ✗ for the typical wrong answers."""
import numpy as np
import pytest

from minicnn_lessons import lesson03

# ---- log_softmax ---------------------------------------------------------------------------------


def softmax_without_the_max_shift(z):
    return np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))


def log_form_without_the_max_shift(z):
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def over_the_wrong_axis(z):
    m = z.max(axis=0, keepdims=True)
    return (z - m) - np.log(np.exp(z - m).sum(axis=0, keepdims=True))


def shifted_by_the_batch_maximum(z):
    m = z.max()
    return (z - m) - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def log_of_the_shifted_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.log(e / e.sum(axis=1, keepdims=True))


def in_float64_whatever_came_in(z):
    return lesson03.log_softmax(z.astype(np.float64))


def test_the_solution_passes_every_check(learner, verdict):
    for name in ("log_softmax", "nll_loss", "log_softmax_backward"):
        fn = learner(getattr(lesson03, name), name, "lesson03")
        passed, text = verdict(getattr(lesson03, f"check_{name}"), fn)
        assert passed, text


def test_a_softmax_without_the_max_shift_is_caught_and_the_check_says_it_overflows(learner, verdict):
    for wrong in (softmax_without_the_max_shift, log_form_without_the_max_shift):
        passed, text = verdict(lesson03.check_log_softmax, learner(wrong, "log_softmax", "lesson03"))
        assert not passed
        assert "✗ your log_softmax gives nan or inf" in text and "scores near 1000" in text
        assert "overflows" in text and "subtract each row's largest score" in text


@pytest.mark.parametrize("wrong, says", [
    (over_the_wrong_axis, "normalises over axis 0"),
    (shifted_by_the_batch_maximum, "Each row needs its own maximum"),
    (log_of_the_shifted_softmax, "log of a probability"),
    (in_float64_whatever_came_in, "returned dtype float64"),
])
def test_other_wrong_log_softmaxes_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson03.check_log_softmax, learner(wrong, "log_softmax", "lesson03"))
    assert not passed and says in text


# ---- nll_loss ------------------------------------------------------------------------------------


def summed_over_the_batch(log_probs, target):
    loss, grad = lesson03.nll_loss(log_probs, target)
    return loss * len(target), grad


def gradient_with_the_wrong_sign(log_probs, target):
    loss, grad = lesson03.nll_loss(log_probs, target)
    return loss, -grad


def gradient_not_divided_by_n(log_probs, target):
    loss, grad = lesson03.nll_loss(log_probs, target)
    return loss, grad * len(target)


def picks_a_column_per_target(log_probs, target):
    n = len(target)
    grad = np.zeros_like(log_probs)
    grad[np.arange(n), target] = -1.0 / n
    return float(-log_probs[:, target].mean()), grad


@pytest.mark.parametrize("wrong, says", [
    (summed_over_the_batch, "the loss is the mean"),
    (gradient_with_the_wrong_sign, "The sign is wrong"),
    (gradient_not_divided_by_n, "Not divided by N"),
    (picks_a_column_per_target, "on a batch of 8 (10 classes, float64), expected"),
])
def test_wrong_nll_losses_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson03.check_nll_loss, learner(wrong, "nll_loss", "lesson03"))
    assert not passed and says in text


# ---- log_softmax_backward ------------------------------------------------------------------------


def forgets_the_softmax_term(grad_y, y):
    return grad_y


def the_elementwise_habit(grad_y, y):
    return grad_y * (1 - y.shape[1] * np.exp(y))


def sums_over_the_batch(grad_y, y):
    return grad_y - np.exp(y) * grad_y.sum(axis=0, keepdims=True)


def uses_y_as_the_probabilities(grad_y, y):
    return grad_y - y * grad_y.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("wrong, says", [
    (forgets_the_softmax_term, "- softmax * (the row's sum of grad_y)"),
    (the_elementwise_habit, "right only when grad_y is all ones"),
    (sums_over_the_batch, "sums grad_y over axis 0"),
    (uses_y_as_the_probabilities, "gradcheck"),
])
def test_wrong_log_softmax_backwards_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson03.check_log_softmax_backward,
                           learner(wrong, "log_softmax_backward", "lesson03"))
    assert not passed and says in text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    for name in ("log_softmax", "nll_loss", "log_softmax_backward"):
        passed, text = verdict(getattr(lesson03, f"check_{name}"),
                               learner(lambda *args: None, name, "lesson03"))
        assert not passed and "✗" in text
