"""Lesson 05's check passes the solution and gives ✗ for the typical wrong update rules."""
import numpy as np
import pytest

from minicnn_lessons import lesson05


def test_the_solution_passes_the_check(learner, verdict):
    passed, text = verdict(lesson05.check_sgd_step, learner(lesson05.sgd_step, "sgd_step", "lesson05"))
    assert passed, text
    assert text.count("✓") == 7          # one per case; call sees that no array changed in place


def test_the_solution_follows_the_equations_by_hand():
    """Two steps worked by hand. (The check's reference, minicnn.SGD, is compared with
    torch.optim.SGD step for step in tests/test_optim.py.)"""
    theta, v = np.array([1.0]), None
    theta, v = lesson05.sgd_step(theta, np.array([2.0]), v, 0.1, momentum=0.9, dampening=0.5)
    assert np.allclose(v, 2.0) and np.allclose(theta, 0.8)        # v = g, undamped: 1 - 0.1 * 2
    theta, v = lesson05.sgd_step(theta, np.array([-1.0]), v, 0.1, momentum=0.9, dampening=0.5)
    assert np.allclose(v, 1.3) and np.allclose(theta, 0.67)       # v = 0.9 * 2 + 0.5 * (-1)
    theta, v = lesson05.sgd_step(np.array([1.0]), np.array([2.0]), None, 0.1, weight_decay=0.5)
    assert v is None and np.allclose(theta, 0.75)                 # 1 - 0.1 * (2 + 0.5 * 1)


# ---- wrong update rules: each is a learner's whole sgd_step ---------------------------------------


def starts_from_zero(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """The issue's case: a buffer that dampens the first step (v = 0 + (1 - dampening) g)."""
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = momentum * (0 if velocity is None else velocity) + (1 - dampening) * g
    return param - lr * v, v


def moving_average(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """v = mu v + (1 - mu) g from 0: every step damped, the first by (1 - mu)."""
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = momentum * (0 if velocity is None else velocity) + (1 - momentum) * g
    return param - lr * v, v


def dampens_every_step(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """First step v = (1 - dampening) g, written out: the same mistake as starts_from_zero."""
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = (1 - dampening) * g if velocity is None else momentum * velocity + (1 - dampening) * g
    return param - lr * v, v


def ignores_dampening(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = g if velocity is None else momentum * velocity + g
    return param - lr * v, v


def nesterov(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = g if velocity is None else momentum * velocity + (1 - dampening) * g
    return param - lr * (g + momentum * v), v


def plus_instead_of_minus(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if not momentum:
        return param + lr * g, None
    v = g if velocity is None else momentum * velocity + (1 - dampening) * g
    return param + lr * v, v


def velocity_with_the_other_sign(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """v <- mu v - g, theta <- theta + eta v: the same steps, the velocity negated."""
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = -g if velocity is None else momentum * velocity - (1 - dampening) * g
    return param + lr * v, v


def learning_rate_inside(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = lr * g if velocity is None else momentum * velocity + (1 - dampening) * lr * g
    return param - v, v


def weight_decay_outside(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    if not momentum:
        return param - lr * (grad + weight_decay * param), None
    v = grad.copy() if velocity is None else momentum * velocity + (1 - dampening) * grad
    return param - lr * (v + weight_decay * param), v


def forgets_weight_decay(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    return lesson05.sgd_step(param, grad, velocity, lr, momentum, dampening, 0.0)


def subtracts_weight_decay(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    return lesson05.sgd_step(param, grad - 2 * weight_decay * param, velocity, lr, momentum, dampening,
                             weight_decay)


def steps_along_the_gradient(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    v = g if velocity is None else momentum * velocity + (1 - dampening) * g
    return param - lr * g, (v if momentum else None)


def updates_param_in_place(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    v = None
    if momentum:
        v = g if velocity is None else momentum * velocity + (1 - dampening) * g
    param -= lr * (v if momentum else g)
    return param, v


def updates_velocity_in_place(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """mc.SGD's own in-place buffer update, on the caller's velocity."""
    g = grad + weight_decay * param
    if not momentum:
        return param - lr * g, None
    if velocity is None:
        velocity = g
    else:
        velocity *= momentum
        velocity += (1 - dampening) * g
    return param - lr * velocity, velocity


def adds_decay_into_the_callers_grad(param, grad, velocity, lr, momentum=0.0, dampening=0.0,
                                     weight_decay=0.0):
    grad += weight_decay * param
    return lesson05.sgd_step(param, grad, velocity, lr, momentum, dampening, 0.0)


def computes_in_float64(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    new, v = lesson05.sgd_step(param.astype(np.float64), grad.astype(np.float64),
                               velocity, lr, momentum, dampening, weight_decay)
    return new, v


@pytest.mark.parametrize("wrong, says", [
    (starts_from_zero, "Yours dampens the first step"),
    (dampens_every_step, "Yours dampens the first step"),
    (moving_average, "an exponential moving average"),
    (ignores_dampening, "Yours ignores dampening"),
    (nesterov, "Nesterov's look-ahead"),
    (plus_instead_of_minus, "Yours moves up the gradient"),
    (velocity_with_the_other_sign, "yours has the opposite sign"),
    (learning_rate_inside, "the learning rate inside the velocity"),
    (weight_decay_outside, "it belongs in the gradient"),
    (forgets_weight_decay, "Yours ignores weight_decay"),
    (subtracts_weight_decay, "Yours subtracts the weight decay"),
    (steps_along_the_gradient, "Yours ignores the velocity"),
    (updates_param_in_place, "changed param in place"),
    (updates_velocity_in_place, "changed velocity in place"),
    (adds_decay_into_the_callers_grad, "changed grad in place"),
    (computes_in_float64, "keep the parameter's dtype"),
])
def test_wrong_update_rules_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson05.check_sgd_step, learner(wrong, "sgd_step", "lesson05"))
    assert not passed and says in text, text


def test_a_buffer_that_dampens_the_first_step_fails_on_the_dampening_case(learner, verdict):
    """The issue's required catch, where it shows: with dampening, the first step is undamped."""
    passed, text = verdict(lesson05.check_sgd_step, learner(starts_from_zero, "sgd_step", "lesson05"))
    assert "✗ your sgd_step is wrong for momentum 0.9 with dampening 0.5" in text
    assert "after step 1 of 5" in text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson05.check_sgd_step,
                           learner(lambda *args, **kwargs: None, "sgd_step", "lesson05"))
    assert not passed and "expected a pair" in text
