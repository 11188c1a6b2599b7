"""Lesson 08's check passes the solution and gives ✗ for the typical wrong confusion matrices."""
import numpy as np
import pytest

from minicnn_lessons import lesson08


def _counts(y_true, y_pred, k):
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _by_rows(matrix):
    return matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)


def transposed(y_true, y_pred, num_classes, normalize=False):
    matrix = _counts(y_pred, y_true, num_classes)             # rows: predicted, columns: true
    return _by_rows(matrix) if normalize else matrix


def mistakes_only(y_true, y_pred, num_classes, normalize=False):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        if t != p:
            matrix[t, p] += 1
    return _by_rows(matrix) if normalize else matrix


def diagonal_counted_twice(y_true, y_pred, num_classes, normalize=False):
    matrix = _counts(y_true, y_pred, num_classes)
    matrix = matrix + np.diag(np.diag(matrix))
    return _by_rows(matrix) if normalize else matrix


def bincount_without_minlength(y_true, y_pred, num_classes, normalize=False):
    matrix = np.bincount(y_true * num_classes + y_pred).reshape(num_classes, num_classes)
    return _by_rows(matrix) if normalize else matrix


def normalised_by_columns(y_true, y_pred, num_classes, normalize=False):
    matrix = _counts(y_true, y_pred, num_classes)
    return matrix / np.maximum(matrix.sum(axis=0, keepdims=True), 1) if normalize else matrix


def empty_row_becomes_nan(y_true, y_pred, num_classes, normalize=False):
    matrix = _counts(y_true, y_pred, num_classes)
    if not normalize:
        return matrix
    with np.errstate(invalid="ignore"):
        return matrix / matrix.sum(axis=1, keepdims=True)


def normalised_by_the_total(y_true, y_pred, num_classes, normalize=False):
    matrix = _counts(y_true, y_pred, num_classes)
    return matrix / matrix.sum() if normalize else matrix


def counts_as_floats(y_true, y_pred, num_classes, normalize=False):
    matrix = np.zeros((num_classes, num_classes))
    np.add.at(matrix, (y_true, y_pred), 1)
    return _by_rows(matrix) if normalize else matrix


def test_the_solution_passes(learner, verdict):
    passed, text = verdict(lesson08.check_confusion_matrix,
                           learner(lesson08.confusion_matrix, "confusion_matrix", "lesson08"))
    assert passed, text
    assert text.count("✓") == 5


def test_the_first_case_is_one_where_transposing_changes_the_answer():
    y_true, y_pred = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3]), np.array([0, 1, 1, 1, 2, 2, 0, 2, 3])
    matrix = lesson08.confusion_matrix(y_true, y_pred, 4)
    assert not np.array_equal(matrix, matrix.T)
    assert not np.allclose(_by_rows(matrix), _by_rows(matrix.T))


def test_a_transposed_confusion_matrix_is_caught(learner, verdict):
    passed, text = verdict(lesson08.check_confusion_matrix,
                           learner(transposed, "confusion_matrix", "lesson08"))
    assert not passed
    assert "✗ your confusion_matrix is wrong for the counts for 4 classes whose mistakes go one way" in text
    assert "Yours is transposed" in text


@pytest.mark.parametrize("wrong, says", [
    (mistakes_only, "zeros on the diagonal"),
    (diagonal_counted_twice, "counts the diagonal (the correct predictions) twice"),
    (bincount_without_minlength, "give it minlength=K*K"),
    (normalised_by_columns, "divides each column by its sum"),
    (empty_row_becomes_nan, "0/0 is nan"),
    (normalised_by_the_total, "divides by the total number of images"),
    (counts_as_floats, "counts are whole numbers"),
])
def test_other_wrong_confusion_matrices_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson08.check_confusion_matrix, learner(wrong, "confusion_matrix", "lesson08"))
    assert not passed and says in text, text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson08.check_confusion_matrix,
                           learner(lambda *a, **k: None, "confusion_matrix", "lesson08"))
    assert not passed and "returned None" in text
