"""Lesson 10: Quick, Draw! doodles. The solution of the PCA exercise, and its check.

The check runs the version that answered on cases chosen to catch the usual mistakes and prints
one ✓ line per case when all of them pass. When one fails it prints a ✗ line for each case that
failed, with a hint where the mistake is recognisable, and lists the cases that were right.
"""
import numpy as np

from . import Report, call, close_to, whose

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def pca_svd(x, k):
    """x (N, D) float64, k components -> (z (N, k), ratio (k,)).

    z: the centred data projected on the top k principal directions, largest variance first;
    ratio: the share of the total variance that lies along each of them.
    """
    mean = x.mean(axis=0)                                        # (D,): the mean image
    centred = x - mean                                           # (N, D), a new array: x is untouched
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)       # centred = U @ diag(s) @ Vt, s sorted
    z = centred @ Vt[:k].T                                       # (N, k) = U[:, :k] * s[:k]
    variance = s ** 2                                            # (min(N, D),), each / (N - 1) a variance
    return z, variance[:k] / variance.sum()


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _data(rng, n, d, mean_level=3.0):
    """(N, D) points far from the origin, with well separated variances along random directions
    (so that every principal direction is well defined), plus a little noise in every direction."""
    r = min(n - 1, d, 6)
    scales = np.array([6.0, 4.0, 2.5, 1.6, 1.0, 0.6])[:r]              # (r,) one per direction
    directions = np.linalg.qr(rng.standard_normal((d, r)))[0]          # (D, r), orthonormal columns
    latent = rng.standard_normal((n, r)) * scales                      # (N, r)
    mean = mean_level + rng.random(d)                                  # (D,), far from 0
    return mean + latent @ directions.T + 0.05 * rng.standard_normal((n, d))


def _reference(x, k):
    """What pca_svd must return, by an independent route: the covariance matrix's eigenvectors,
    sorted by decreasing eigenvalue (and the same directions' signs are left free)."""
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / (len(x) - 1)                           # (D, D)
    w, v = np.linalg.eigh(cov)                                         # ascending
    order = np.argsort(w)[::-1]
    w, v = np.clip(w[order], 0, None), v[:, order]
    return centred @ v[:, :k], w[:k] / w.sum()


def _aligned(got, expected):
    """``got`` with each column's sign flipped where it points against ``expected``'s column:
    a principal direction v and -v are the same line, and SVD routines may return either."""
    signs = np.where(np.sum(got * expected, axis=0) < 0, -1.0, 1.0)
    return got * signs


def _ascending_eigh(x):
    """The covariance matrix's eigenvalues and eigenvectors as np.linalg.eigh returns them:
    in increasing order (the learner who forgets to sort gets these)."""
    centred = x - x.mean(axis=0)
    return np.linalg.eigh(centred.T @ centred / (len(x) - 1))


EIGH_ORDER = ("np.linalg.eigh returns the eigenvalues in increasing order, so its first columns are "
              "the directions of *smallest* variance: sort by decreasing eigenvalue first "
              "(order = np.argsort(w)[::-1])")


def _projection_hint(x, k, z):
    """A sentence naming the mistake behind wrong projections ``z``, or ''."""
    centred = x - x.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    w, v = _ascending_eigh(x)
    if np.abs(z.mean(axis=0)).max() > 1e-6 * float(np.abs(centred).max()):
        return (". Your projections do not have mean 0 over the samples, so the data was not centred: "
                "subtract the mean image, x.mean(axis=0) (one number per feature, averaged over the N "
                "samples), from every row, and project the centred data")
    candidates = [
        (U[:, :k], "Your projections are U's first k columns, which have length 1: the coordinates are "
                   "U[:, :k] * s[:k] (the same as centred @ Vt[:k].T)"),
        (centred @ Vt[:, :k] if Vt.shape[0] == Vt.shape[1] else None,
         "You projected on the first k columns of Vt; the principal directions are its first k rows "
         "(the columns of V): centred @ Vt[:k].T"),
        (centred @ U[:, :k] if U.shape[0] == centred.shape[1] else None,
         "You projected on columns of U, the matrix on the left of the SVD. U has one row per sample: "
         "its columns live in sample space. The directions live in feature space (D numbers each): "
         "the rows of Vt, on the right"),
        (centred @ v[:, :k], EIGH_ORDER),
        (centred @ v[:, :k][:, ::-1], EIGH_ORDER),
    ]
    for wrong, hint in candidates:
        if wrong is not None and wrong.shape == z.shape and close_to(_aligned(z, wrong), wrong, 1e-6, 1e-8):
            return ". " + hint
    return ""


def _ratio_hint(x, k, ratio):
    """A sentence naming the mistake behind wrong variance shares ``ratio``, or ''."""
    centred = x - x.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    variance = s ** 2
    w = np.clip(_ascending_eigh(x)[0], 0, None)
    candidates = [
        (variance[:k] / (len(x) - 1), "These are the variances themselves: divide by the total "
                                      "variance (the sum over all components) to get shares"),
        (variance[:k], "These are the squared singular values: divide by their sum over all components"),
        (s[:k] / s.sum(), "You normalised the singular values; the variance along a direction is "
                          "proportional to the singular value *squared*"),
        (variance[:k] / variance[:k].sum(), "Your shares add up to 1 over the top k alone; divide by the "
                                            "total variance of all the components, so that they say how "
                                            "much of it the k directions keep"),
        (w[:k] / w.sum(), EIGH_ORDER),
        (w[:k][::-1] / w.sum(), EIGH_ORDER),
    ]
    for wrong, hint in candidates:
        if close_to(ratio, wrong, 1e-6, 1e-10):
            return ". " + hint
    if len(ratio) > 1 and np.any(np.diff(ratio) > 1e-12):
        return ". The shares must come largest first: sort the components by decreasing variance"
    return ""


def check_pca_svd(fn):
    """Points far from the origin with well separated variances, in three shapes: more samples than
    features (Vt square), as many (U and Vt both square), fewer (U square); k = 3, 2, 2 and 1."""
    rng = np.random.default_rng(10)
    cases = [  # (name, N, D, k)
        ("200 samples of 12 features, k = 3", 200, 12, 3),
        ("30 samples of 30 features, k = 2", 30, 30, 2),
        ("20 samples of 50 features (fewer samples than features), k = 2", 20, 50, 2),
        ("100 samples of 8 features, k = 1", 100, 8, 1),
    ]
    report = Report(fn)
    for name, n, d, k in cases:
        x = _data(rng, n, d)
        z_ref, ratio_ref = _reference(x, k)
        out, error = call(fn, x.copy(), k)          # call also makes sure x is left unchanged
        if error:
            hint = ""
            if "in place" in error:
                hint = ". x -= mean works in place: centre a new array, centred = x - mean"
            elif "matmul" in error or "shapes" in error or "aligned" in error:
                hint = (". The principal directions live in feature space (D numbers each): the first "
                        "k rows of Vt, the matrix on the right of the SVD")
            report.add(False, f"{whose(fn)} failed on {name}: {error}{hint}", name)
            continue
        if not (isinstance(out, tuple) and len(out) == 2):
            report.add(False, f"{whose(fn)} returned {type(out).__name__} on {name}, expected a pair "
                              f"(z, ratio)", name)
            continue
        z, ratio = (np.asarray(a, dtype=np.float64) if a is not None else None for a in out)
        if z is None or z.shape != (n, k):
            report.add(False, f"{whose(fn)} returned projections of shape "
                              f"{None if z is None else z.shape} on {name}, expected {(n, k)}: one row "
                              f"per sample, one column per component", name)
            continue
        if ratio is None or ratio.shape != (k,):
            report.add(False, f"{whose(fn)} returned variance shares of shape "
                              f"{None if ratio is None else ratio.shape} on {name}, expected {(k,)}: "
                              f"one per component kept", name)
            continue
        if not np.isfinite(z).all() or not np.isfinite(ratio).all():
            report.add(False, f"{whose(fn)} returned nan or inf on {name}", name)
            continue
        if not close_to(_aligned(z, z_ref), z_ref, 1e-6, 1e-8):
            worst = float(np.abs(_aligned(z, z_ref) - z_ref).max())
            report.add(False, f"{whose(fn)} gives wrong projections on {name} (largest difference "
                              f"{worst:.3g}, up to each column's sign){_projection_hint(x, k, z)}", name)
            continue
        if not close_to(ratio, ratio_ref, 1e-6, 1e-10):
            report.add(False, f"{whose(fn)} gives the right projections but the variance shares "
                              f"{np.round(ratio, 4).tolist()} on {name}, expected "
                              f"{np.round(ratio_ref, 4).tolist()}{_ratio_hint(x, k, ratio)}", name)
            continue
        report.add(True, f"{whose(fn)} is right for {name}: projections (up to each column's sign) and "
                         f"variance shares {np.round(ratio, 3).tolist()}", name)
    return report.close()
