"""Lesson 10's check passes the solution and gives ✗ for the typical wrong PCAs."""
import numpy as np
import pytest

from minicnn_lessons import lesson10


def not_centred(x, k):
    U, s, Vt = np.linalg.svd(x, full_matrices=False)
    return x @ Vt[:k].T, s[:k] ** 2 / (s ** 2).sum()


def centred_for_the_svd_but_projects_the_raw_data(x, k):
    _, ratio = lesson10.pca_svd(x, k)
    Vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)[2]
    return x @ Vt[:k].T, ratio


def centres_each_row(x, k):
    centred = x - x.mean(axis=1, keepdims=True)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ Vt[:k].T, s[:k] ** 2 / (s ** 2).sum()


def centres_in_place(x, k):
    x -= x.mean(axis=0)
    return lesson10.pca_svd(x, k)


def onto_columns_of_u(x, k):           # the wrong side of the SVD
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ U[:, :k], s[:k] ** 2 / (s ** 2).sum()


def u_without_the_singular_values(x, k):
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return U[:, :k], s[:k] ** 2 / (s ** 2).sum()


def onto_columns_of_vt(x, k):
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred)                # full Vt, (D, D)
    return centred @ Vt[:, :k], s[:k] ** 2 / (s ** 2).sum()


def eigh_unsorted(x, k):                  # the covariance's eigenvectors, in eigh's increasing order
    centred = x - x.mean(axis=0)
    w, v = np.linalg.eigh(centred.T @ centred / (len(x) - 1))
    return centred @ v[:, :k], w[:k] / w.sum()


def eigh_sorted(x, k):                    # the right answer by another route: must pass
    centred = x - x.mean(axis=0)
    w, v = np.linalg.eigh(centred.T @ centred / (len(x) - 1))
    order = np.argsort(w)[::-1]
    w, v = np.clip(w[order], 0, None), v[:, order]
    return centred @ v[:, :k], w[:k] / w.sum()


def eigh_sorted_projections_unsorted_shares(x, k):
    z, _ = eigh_sorted(x, k)
    centred = x - x.mean(axis=0)
    w = np.linalg.eigh(centred.T @ centred)[0]
    return z, w[:k] / w.sum()


def variances_not_shares(x, k):
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ Vt[:k].T, s[:k] ** 2 / (len(x) - 1)


def singular_values_not_squared(x, k):
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ Vt[:k].T, s[:k] / s.sum()


def shares_of_the_top_k_only(x, k):
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ Vt[:k].T, s[:k] ** 2 / (s[:k] ** 2).sum()


def every_share(x, k):
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ Vt[:k].T, s ** 2 / (s ** 2).sum()


def test_the_solution_and_another_right_route_pass(learner, verdict):
    for right in (lesson10.pca_svd, eigh_sorted):
        passed, text = verdict(lesson10.check_pca_svd, learner(right, "pca_svd", "lesson10"))
        assert passed, text
        assert text.count("✓") == 4


def test_flipped_signs_pass(learner, verdict):
    def flipped(x, k):
        z, ratio = lesson10.pca_svd(x, k)
        return -z, ratio
    passed, text = verdict(lesson10.check_pca_svd, learner(flipped, "pca_svd", "lesson10"))
    assert passed, text


@pytest.mark.parametrize("wrong, says", [
    (not_centred, "the data was not centred"),
    (centred_for_the_svd_but_projects_the_raw_data, "project the centred data"),
    (centres_each_row, "averaged over the N samples"),
    (centres_in_place, "changed x in place"),
    (onto_columns_of_u, "You projected on columns of U"),
    (u_without_the_singular_values, "U[:, :k] * s[:k]"),
    (onto_columns_of_vt, "first k columns of Vt"),
    (eigh_unsorted, "increasing order"),
    (eigh_sorted_projections_unsorted_shares, "increasing order"),
    (variances_not_shares, "the variances themselves"),
    (singular_values_not_squared, "singular value *squared*"),
    (shares_of_the_top_k_only, "add up to 1 over the top k alone"),
    (every_share, "expected (3,)"),
])
def test_wrong_pcas_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson10.check_pca_svd, learner(wrong, "pca_svd", "lesson10"))
    assert not passed and says in text, text


def test_the_wrong_side_of_the_svd_is_caught_where_it_does_not_even_run(learner, verdict):
    passed, text = verdict(lesson10.check_pca_svd, learner(onto_columns_of_u, "pca_svd", "lesson10"))
    assert "failed on 200 samples of 12 features" in text and "the first k rows of Vt" in text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson10.check_pca_svd, learner(lambda x, k: None, "pca_svd", "lesson10"))
    assert not passed and "expected a pair" in text
