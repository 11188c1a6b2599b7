"""Lesson 09's check passes the solution and gives ✗ for the typical wrong centre-of-mass shifts."""
import numpy as np
import pytest

from minicnn.drawing import MNIST_CENTER_OF_MASS, MNIST_SIZE, center_of_mass
from minicnn_lessons import lesson09

T_ROW, T_COL = MNIST_CENTER_OF_MASS


def _paste(small, top, left, clamp=True, dtype=np.float32):
    h, w = small.shape
    if clamp:
        top, left = int(np.clip(top, 0, MNIST_SIZE - h)), int(np.clip(left, 0, MNIST_SIZE - w))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=dtype)
    out[top:top + h, left:left + w] = small
    return out


def shift_with_the_wrong_sign(small):
    r, c = center_of_mass(small)
    return _paste(small, round(r - T_ROW), round(c - T_COL))


def wrong_sign_and_no_clamp(small):
    r, c = center_of_mass(small)
    return _paste(small, round(r - T_ROW), round(c - T_COL), clamp=False)


def rows_and_columns_swapped(small):
    c, r = center_of_mass(small)
    return _paste(small, round(T_ROW - r), round(T_COL - c))


def mean_row_summed_along_the_wrong_axis(small):
    h, w = small.shape
    r = small.sum(axis=0) @ np.arange(h) / small.sum()
    c = small.sum(axis=1) @ np.arange(w) / small.sum()
    return _paste(small, round(T_ROW - r), round(T_COL - c))


def truncated_instead_of_rounded(small):
    r, c = center_of_mass(small)
    return _paste(small, int(T_ROW - r), int(T_COL - c))


def aimed_at_the_middle_of_the_field(small):
    """Rounded, toward (13.5, 13.5): floor(d) = round(d - 0.5), so it places a digit as truncating does."""
    r, c = center_of_mass(small)
    return _paste(small, round(13.5 - r), round(13.5 - c))


def never_clamped(small):
    r, c = center_of_mass(small)
    return _paste(small, round(T_ROW - r), round(T_COL - c), clamp=False)


def centres_the_box(small):
    h, w = small.shape
    return _paste(small, (MNIST_SIZE - h) // 2, (MNIST_SIZE - w) // 2)


def returns_float64(small):
    r, c = center_of_mass(small)
    return _paste(small, round(T_ROW - r), round(T_COL - c), dtype=np.float64)


def test_the_solution_passes(learner, verdict):
    passed, text = verdict(lesson09.check_place_at_center_of_mass,
                           learner(lesson09.place_at_center_of_mass, "place_at_center_of_mass", "lesson09"))
    assert passed, text
    assert text.count("✓") == 3


def test_the_cases_tell_the_mistakes_apart():
    """Each case's right offset differs from what every mistake gives, where the mistake does not
    raise; and no case sits near a half pixel, where 14 and the measured centre would round apart."""
    for name, small in lesson09._shapes():
        h, w = small.shape
        r, c = center_of_mass(small)
        for d in (T_ROW - r, T_COL - c, 14 - r, 14 - c):
            assert abs(d % 1 - 0.5) > 0.05, name
        assert h != w or r != c
    seven = lesson09._shapes()[0][1]
    right = lesson09.place_at_center_of_mass(seven)
    for wrong in (shift_with_the_wrong_sign, rows_and_columns_swapped, truncated_instead_of_rounded,
                  centres_the_box):
        assert not np.array_equal(wrong(seven), right), wrong.__name__


def test_a_shift_with_the_wrong_sign_is_caught_and_named(learner, verdict):
    passed, text = verdict(lesson09.check_place_at_center_of_mass,
                           learner(shift_with_the_wrong_sign, "place_at_center_of_mass", "lesson09"))
    assert not passed and "the shift has the wrong sign" in text


def test_a_wrong_sign_without_the_clamp_is_caught(learner, verdict):
    passed, text = verdict(lesson09.check_place_at_center_of_mass,
                           learner(wrong_sign_and_no_clamp, "place_at_center_of_mass", "lesson09"))
    assert not passed and "check the sign of the shift" in text
    assert "counts from the end of the field" in text


@pytest.mark.parametrize("wrong, says", [
    (rows_and_columns_swapped, "rows and columns are swapped"),
    (mean_row_summed_along_the_wrong_axis, "along axis 1"),
    (truncated_instead_of_rounded, "truncating the offset (int or floor)"),
    (aimed_at_the_middle_of_the_field, "such as (13.5, 13.5)"),
    (aimed_at_the_middle_of_the_field, "lands at"),
    (never_clamped, "clamp the offsets"),
    (centres_the_box, "that centres the box, not the centre of mass"),
    (returns_float64, "expected float32"),
])
def test_other_wrong_shifts_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson09.check_place_at_center_of_mass,
                           learner(wrong, "place_at_center_of_mass", "lesson09"))
    assert not passed and says in text, text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson09.check_place_at_center_of_mass,
                           learner(lambda small: None, "place_at_center_of_mass", "lesson09"))
    assert not passed and "returned None" in text
