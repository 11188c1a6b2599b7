"""Lesson 13's checks pass the solutions and catch the typical wrong answers.

Exercise 1 is Kaiming-uniform's bound from a weight's shape, exercise 2 the fraction of ReLU units
that are dead (0 for every image) on a batch. Each wrong answer below is a mistake a learner makes;
its test asserts that the check returns False and that the ✗ line names the aspect (and, where
the lesson offers one, the hint).
"""
import math

import numpy as np
import pytest

from minicnn_lessons import exercise, lesson13


def failed_lines(text):
    return "\n".join(line for line in text.splitlines() if line.startswith(("✗", "    hint")))


def assert_caught(passed, text, aspect, message):
    assert not passed, text
    assert aspect in failed_lines(text) and message in failed_lines(text), text


def test_the_solutions_pass_every_check(learner, verdict):
    for name in ["kaiming_uniform_bound", "dead_fraction"]:
        passed, text = verdict(getattr(lesson13, f"check_{name}"),
                                 learner(getattr(lesson13, name), name, "lesson13"))
        assert passed and text.startswith(f"✓ your {name}"), text


def test_unwritten_exercises_are_checked_as_the_solutions_and_say_so(verdict):
    @exercise("lesson13")
    def dead_fraction(activations):
        return None

    passed, text = verdict(lesson13.check_dead_fraction, dead_fraction)
    assert passed and "✓ the solution's dead_fraction" in text, text


# ---------------------------------------------------------------- exercise 1: the bound

def bound(fan_in=lambda shape: math.prod(shape[1:]), gain=lambda a: math.sqrt(2 / (1 + a * a)),
          spread=math.sqrt(3), root=math.sqrt):
    """A Kaiming-uniform bound with one part swapped for a typical mistake."""
    return lambda shape, a=0.0: spread * gain(a) / root(fan_in(shape))


WRONG_BOUNDS = {
    "fan_in without the kernel size": (bound(fan_in=lambda s: s[1]), "a Conv2d weight", "KH * KW"),
    "fan_out instead of fan_in": (bound(fan_in=lambda s: s[0] * math.prod(s[2:])), "a Linear weight",
                                  "fan_out"),
    "the standard deviation, not the bound": (bound(spread=1.0), "a Linear weight", "sqrt(3) * std"),
    "the gain not square-rooted": (bound(gain=lambda a: 2 / (1 + a * a)), "a Linear weight",
                                   "square root of 2 / (1 + a**2)"),
    "a ignored": (bound(gain=lambda a: math.sqrt(2)), "the slope a", "ignores a"),
    "divided by fan_in": (bound(root=lambda n: n), "a Linear weight", "not by its square root"),
    "fan_in from the last axis": (bound(fan_in=lambda s: s[-1]), "a Conv2d weight", "shape[-1]"),
    "PyTorch's default bound whatever a": (lambda shape, a=0.0: 1 / math.sqrt(math.prod(shape[1:])),
                                           "a Linear weight", ""),
    "the variance, not a bound": (lambda shape, a=0.0: 2 / (1 + a * a) / math.prod(shape[1:]),
                                  "a Linear weight", "the variance"),
    "an array of weights instead of the bound": (
        lambda shape, a=0.0: np.random.default_rng(0).uniform(-1, 1, shape), "a Linear weight",
        "expected one number"),
}


@pytest.mark.parametrize("name", WRONG_BOUNDS)
def test_a_wrong_bound_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_BOUNDS[name]
    assert_caught(*verdict(lesson13.check_kaiming_uniform_bound,
                             learner(wrong, "kaiming_uniform_bound", "lesson13")), aspect, message)


def test_a_bound_that_raises_is_a_cross_not_a_crash(learner, verdict):
    def raises(shape, a=0.0):
        fan_in, = shape[1:]                  # works for a Linear weight only
        return math.sqrt(6 / fan_in)
    assert_caught(*verdict(lesson13.check_kaiming_uniform_bound,
                             learner(raises, "kaiming_uniform_bound", "lesson13")),
                  "a Conv2d weight", "raised ValueError")


def test_the_bound_is_checked_against_minicnns_own_layers(learner, verdict):
    """A bound that is right for the four formula cases but too small for a = sqrt(5) fails."""
    def off_for_sqrt5(shape, a=0.0):
        b = lesson13.kaiming_uniform_bound(shape, a)
        return b * 0.9 if shape in [(40, 300), (16, 6, 5, 5)] else b
    assert_caught(*verdict(lesson13.check_kaiming_uniform_bound,
                             learner(off_for_sqrt5, "kaiming_uniform_bound", "lesson13")),
                  "minicnn.Linear(300, 40)", "your bound is")


# ---------------------------------------------------------------- exercise 2: dead units

def per_unit(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


WRONG_DEAD_FRACTIONS = {
    "the fraction of zeros (sparsity)": (lambda a: float((a == 0).mean()), "features", "how sparse"),
    "dead on some image (any) instead of all": (
        lambda a: float((per_unit(a) == 0).any(axis=(0, 2)).mean()), "features", "SOME image"),
    "< 0 instead of <= 0": (lambda a: float((per_unit(a) < 0).all(axis=(0, 2)).mean()), "features",
                            "testing < 0"),
    "the first image only": (lambda a: float((per_unit(a)[0] <= 0).all(axis=1).mean()), "features",
                             "first image only"),
    "a count, not a fraction": (lambda a: float((per_unit(a) <= 0).all(axis=(0, 2)).sum()), "features",
                                "counted the dead units"),
    "reduced over the units instead of the images": (
        lambda a: float((per_unit(a) <= 0).all(axis=(1, 2)).mean()), "features", "fraction of images"),
    "positions, not channels": (lambda a: float((per_unit(a) <= 0).all(axis=0).mean()), "channels",
                                "positions"),
    "2-D only: (a <= 0).all(axis=0) on any shape": (lambda a: float((a <= 0).all(axis=0).mean()),
                                                    "channels", "positions"),
    "the alive fraction": (lambda a: float((per_unit(a) > 0).any(axis=(0, 2)).mean()), "features", ""),
    "alive means above a threshold": (lambda a: float((per_unit(a) <= 1e-6).all(axis=(0, 2)).mean()),
                                      "features", ""),
}


@pytest.mark.parametrize("name", WRONG_DEAD_FRACTIONS)
def test_a_wrong_dead_fraction_is_caught(name, learner, verdict):
    wrong, aspect, message = WRONG_DEAD_FRACTIONS[name]
    assert_caught(*verdict(lesson13.check_dead_fraction, learner(wrong, "dead_fraction", "lesson13")),
                  aspect, message)


def test_an_array_instead_of_a_number_is_caught(learner, verdict):
    assert_caught(*verdict(lesson13.check_dead_fraction,
                             learner(lambda a: (per_unit(a) <= 0).all(axis=(0, 2)), "dead_fraction",
                                     "lesson13")),
                  "features", "expected one number")
