"""Medians, spreads and ratios of repeated measurements."""
import numpy as np


def summary(values):
    """Median, min, max and quartiles of a list of numbers, plus the numbers themselves."""
    v = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return dict(median=float(med), min=float(v.min()), max=float(v.max()), q1=float(q1), q3=float(q3),
                runs=[float(a) for a in v])


def ratios(runs, reference_runs):
    """Throughput ratio (> 1: faster than the reference): of the medians, and the range of the
    paired ratios (repetition k against the reference's repetition k, which ran beside it)."""
    if reference_runs is None:
        return None
    a, b = np.asarray(runs, dtype=np.float64), np.asarray(reference_runs, dtype=np.float64)
    paired = a / b if len(a) == len(b) else np.array([np.median(a) / np.median(b)])
    return dict(of_medians=float(np.median(a) / np.median(b)), paired_min=float(paired.min()),
                paired_max=float(paired.max()))


def latency_ratio(times, reference, repeats):
    """The reference's median latency over the contender's (> 1: faster), with the range of the
    ratios of each repetition's medians."""
    if reference is None:
        return None
    mine = [np.median(part) for part in np.array_split(np.asarray(times), repeats)]
    theirs = [np.median(part) for part in np.array_split(np.asarray(reference), repeats)]
    paired = np.asarray(theirs) / np.asarray(mine)
    return dict(of_medians=float(np.median(reference) / np.median(times)),
                paired_min=float(paired.min()), paired_max=float(paired.max()))
