"""train_val_split: stratified by class, seeded, disjoint, and complete."""
import numpy as np
import pytest

from minicnn.data import train_val_split


def _numbered(labels):
    """Images that are their own index, (N, 2, 2), so a test can tell which ones went where."""
    n = len(labels)
    return np.repeat(np.arange(n), 4).reshape(n, 2, 2), np.asarray(labels, dtype=np.int64)


def test_the_split_is_disjoint_complete_and_keeps_the_order():
    x, y = _numbered(np.random.default_rng(0).integers(0, 10, 1000))
    x_train, y_train, x_val, y_val = train_val_split(x, y, 150, seed=3)
    assert len(x_val) == len(y_val) == 150 and len(x_train) == len(y_train) == 850
    train_ids, val_ids = x_train[:, 0, 0], x_val[:, 0, 0]
    assert not set(train_ids) & set(val_ids)
    assert sorted(np.concatenate([train_ids, val_ids])) == list(range(1000))
    assert (np.diff(train_ids) > 0).all() and (np.diff(val_ids) > 0).all()
    np.testing.assert_array_equal(y_train, y[train_ids])        # each label stays with its image
    np.testing.assert_array_equal(y_val, y[val_ids])


def test_the_split_is_seeded():
    x, y = _numbered(np.arange(600) % 6)
    first = train_val_split(x, y, 60, seed=1)
    again = train_val_split(x, y, 60, seed=1)
    other = train_val_split(x, y, 60, seed=2)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert set(first[2][:, 0, 0]) != set(other[2][:, 0, 0])


def test_each_class_gets_its_share_on_real_mnist(mnist):
    x, y = mnist[0], mnist[1]
    x_train, y_train, x_val, y_val = train_val_split(x, y, 5000)
    assert x_val.shape == (5000, 28, 28) and x_train.shape == (55000, 28, 28)
    exact = np.bincount(y) * 5000 / 60000                      # e.g. 493.6 zeros
    counts = np.bincount(y_val, minlength=10)
    assert (np.abs(counts - exact) < 1).all(), counts
    np.testing.assert_array_equal(np.bincount(y_train) + counts, np.bincount(y))


def test_shares_add_up_when_every_class_rounds_down():
    x, y = _numbered(np.arange(30) % 3)                        # 10 of each class
    _, _, _, y_val = train_val_split(x, y, 8, seed=0)           # 2.67 each: 3, 3, 2
    assert sorted(np.bincount(y_val, minlength=3)) == [2, 3, 3]


def test_val_size_zero_keeps_everything_for_training():
    x, y = _numbered([0, 1, 2, 1])
    x_train, y_train, x_val, y_val = train_val_split(x, y, 0)
    np.testing.assert_array_equal(x_train, x)
    assert len(x_val) == len(y_val) == 0


@pytest.mark.parametrize("val_size", [-1, 10, 11, 2.5, True])
def test_a_bad_val_size_is_one_clear_sentence(val_size):
    x, y = _numbered(np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"val_size must be a whole number from 0 to 9"):
        train_val_split(x, y, val_size)


def test_a_huge_label_costs_memory_for_the_samples_not_for_the_label():
    """One label of 10**9 among 512: np.bincount would allocate 8 GB; the split needs the 512."""
    import tracemalloc
    y = np.arange(512, dtype=np.int64) % 4
    y[7] = 10**9
    x = np.zeros((512, 2, 2), np.uint8)
    tracemalloc.start()
    try:
        _, _, _, y_val = train_val_split(x, y, 100, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and len(y_val) == 100


@pytest.mark.parametrize("y, message", [
    (np.array([0, 1, -1, 1]), r"label y\[2\] is -1; class labels count from 0"),
    (np.array([0.0, 1.0, 1.0, 0.0]), "integer class labels"),
    (np.array([0, 1, 1]), "for N = 4 images"),
])
def test_bad_labels_get_a_sentence(y, message):
    with pytest.raises(ValueError, match=message):
        train_val_split(np.zeros((4, 2, 2)), y, 1)
