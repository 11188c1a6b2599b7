"""Lesson 11's check passes the solution and gives ✗ for the typical slips in vectorising the squared
distances, and for a version that still loops over the pairs."""
import numpy as np
import pytest

from minicnn_lessons import exercise, lesson11


def test_the_solution_passes_and_the_loop_version_agrees(learner, verdict):
    passed, text = verdict(lesson11.check_squared_distances,
                           learner(lesson11.squared_distances, "squared_distances", "lesson11"))
    assert passed and text.count("✓") == 4 and "times faster" in text, text
    a, b = np.random.default_rng(0).standard_normal((2, 9, 5))
    assert np.allclose(lesson11.squared_distances(a, b), ((a[:, None] - b[None]) ** 2).sum(axis=2))


def test_an_unwritten_exercise_is_checked_as_the_solution(verdict):
    @exercise("lesson11")
    def squared_distances(a, b):
        return None
    passed, text = verdict(lesson11.check_squared_distances, squared_distances)
    assert passed and "✓ the solution's squared_distances" in text


def not_squared(a, b):
    return np.sqrt(np.maximum(lesson11.squared_distances(a, b), 0))


def cross_term_once(a, b):
    return (a * a).sum(1)[:, None] - a @ b.T + (b * b).sum(1)[None, :]


def cross_term_added(a, b):
    return (a * a).sum(1)[:, None] + 2 * a @ b.T + (b * b).sum(1)[None, :]


def norms_swapped(a, b):
    return (a * a).sum(1)[None, :] - 2 * a @ b.T + (b * b).sum(1)[:, None]


def transposed(a, b):
    return lesson11.squared_distances(b, a)


def in_float64(a, b):
    return lesson11.squared_distances(a.astype(np.float64), b.astype(np.float64))


def still_loops_over_pairs(a, b):
    return lesson11.squared_distances_loops(a, b)


def loops_over_pairs_with_broadcasting(a, b):
    return np.array([[((a[i] - b[j]) ** 2).sum() for j in range(len(b))] for i in range(len(a))], a.dtype)


@pytest.mark.parametrize("wrong, says", [
    (not_squared, "leave out the square root"),
    (cross_term_once, "The cross term is 2 a_i . b_j"),
    (cross_term_added, "The cross term is subtracted"),
    (norms_swapped, "the other way round"),
    (transposed, "Yours is transposed"),
    (in_float64, "expected float32"),
    (still_loops_over_pairs, "without a Python loop over the pairs"),
    (loops_over_pairs_with_broadcasting, "a @ b.T"),
    (lambda a, b: None, "returned None"),
])
def test_wrong_versions_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson11.check_squared_distances, learner(wrong, "squared_distances", "lesson11"))
    assert not passed and says in text, text
