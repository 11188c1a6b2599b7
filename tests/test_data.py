"""minicnn.data: the IDX reader, the three dataset loaders on the real files, and the batches."""
import gzip
import struct

import numpy as np
import pytest

import minicnn
from minicnn.data import (FASHION_MNIST_CLASSES, IMAGES_MAGIC, LABELS_MAGIC, MNIST_CLASSES,
                          QUICKDRAW_ARTICLE_CATEGORIES, QUICKDRAW_LOCAL_CATEGORIES, DataLoader,
                          as_batch, load_fashion_mnist, load_quickdraw, read_idx)

# Label counts of the real files, from ../shared/datasets/README.md.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---------------------------------------------------------------------------------------- IDX

def _idx_bytes(array, type_code=0x08):
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                         *array.shape)
    return header + array.tobytes()


def _write(path, data):
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


IMAGES = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_idx_reads_images_gzip_or_plain(tmp_path, name):
    path = _write(tmp_path / name, _idx_bytes(IMAGES))
    out = read_idx(path, expected_magic=IMAGES_MAGIC)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, IMAGES)
    out[0, 0, 0] = 7                     # the result is an ordinary writable array


def test_idx_reads_labels_and_wider_types(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    np.testing.assert_array_equal(
        read_idx(_write(tmp_path / "l.gz", _idx_bytes(labels)), expected_magic=LABELS_MAGIC),
        labels)
    wide = np.array([[-2, 300], [7, -32000]], dtype=">i2")      # type 0x0B: big-endian int16
    out = read_idx(_write(tmp_path / "w.gz", _idx_bytes(wide, type_code=0x0B)))
    assert out.dtype == np.int16 and out.dtype.isnative
    np.testing.assert_array_equal(out, wide)


def test_idx_reads_real_mnist_test_labels(data_dir):
    labels = read_idx(data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    assert labels.shape == (10000,)
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS


def test_idx_wrong_magic_names_file_and_both_numbers(tmp_path):
    path = _write(tmp_path / "labels.gz", _idx_bytes(np.zeros(4, np.uint8)))    # magic 2049
    with pytest.raises(ValueError, match=r"labels\.gz has magic number 2049, expected 2051"):
        read_idx(path, expected_magic=IMAGES_MAGIC)


def test_idx_garbage_magic(tmp_path):
    path = _write(tmp_path / "notidx.gz", b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(ValueError, match=r"notidx\.gz has magic number .*not an IDX magic"):
        read_idx(path)


@pytest.mark.parametrize("cut, message", [
    (2, "truncated: expected a 4-byte header"),
    (10, "truncated inside its header"),
    (16 + 59, r"truncated: header says shape \(3, 4, 5\) \(60 bytes of data\), received 59"),
])
def test_idx_truncated_payload(tmp_path, cut, message):
    path = _write(tmp_path / "cut.gz", _idx_bytes(IMAGES)[:cut])
    with pytest.raises(ValueError, match=r"cut\.gz is " + message):
        read_idx(path)


@pytest.mark.parametrize("name", ["huge.gz", "huge"])
def test_idx_header_cannot_make_the_reader_allocate(tmp_path, name):
    """A file written by an attacker: a few bytes whose header announces terabytes, or 600 MB that
    are not there. Refused with a sentence, holding no more memory than the bytes really read."""
    import tracemalloc
    claims_terabytes = struct.pack(">HBB3I", 0, 0x08, 3, 60000, 60000, 60000) + bytes(10)
    with pytest.raises(ValueError, match=r"announces shape \(60000, 60000, 60000\), 216000000000000 bytes"):
        read_idx(_write(tmp_path / name, claims_terabytes))
    claims_600_mb = struct.pack(">HBB3I", 0, 0x08, 3, 600, 1000, 1000) + bytes(1000)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"truncated: header says shape \(600, 1000, 1000\)"):
            read_idx(_write(tmp_path / ("short-" + name), claims_600_mb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, peak


def test_idx_trailing_bytes(tmp_path):
    path = _write(tmp_path / "long.gz", _idx_bytes(IMAGES) + b"\x00")
    with pytest.raises(ValueError, match=r"long\.gz has data after the 60 bytes"):
        read_idx(path)


def test_idx_cut_gzip_stream(tmp_path):
    whole = gzip.compress(_idx_bytes(IMAGES))
    path = tmp_path / "half.gz"
    path.write_bytes(whole[:len(whole) // 2])          # a download that stopped half way
    with pytest.raises(ValueError, match=r"half\.gz is damaged"):
        read_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.gz does not exist"):
        read_idx(tmp_path / "nothere.gz")


# ---------------------------------------------------------------------- MNIST, Fashion-MNIST

def _check_split(x, y, n, counts):
    assert x.shape == (n, 28, 28) and x.dtype == np.uint8
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == counts
    assert x.max() == 255 and x.min() == 0


def test_load_mnist_real(mnist):
    x_train, y_train, x_test, y_test = mnist
    _check_split(x_train, y_train, 60000, MNIST_TRAIN_COUNTS)
    _check_split(x_test, y_test, 10000, MNIST_TEST_COUNTS)
    assert len(MNIST_CLASSES) == 10


def test_load_fashion_mnist_real(data_dir):
    x_train, y_train, x_test, y_test = load_fashion_mnist(root=data_dir, download=False)
    _check_split(x_train, y_train, 60000, [6000] * 10)
    _check_split(x_test, y_test, 10000, [1000] * 10)
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_loaders_use_minicnn_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA_DIR", str(data_dir))
    *_, classes = load_quickdraw(["banana"], max_per_class=10, download=False)
    assert classes == ["banana"]


# ----------------------------------------------------------------------------- Quick, Draw!

def test_quickdraw_local_shapes_and_labels(data_dir):
    x_train, y_train, x_test, y_test, classes = load_quickdraw(
        QUICKDRAW_LOCAL_CATEGORIES, max_per_class=300, root=data_dir, download=False,
        test_fraction=0.2)
    assert classes == list(QUICKDRAW_LOCAL_CATEGORIES)
    assert x_train.shape == (2400, 28, 28) and x_test.shape == (600, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [240] * 10
    assert np.bincount(y_test).tolist() == [60] * 10
    assert len(np.unique(y_train[:100])) > 5            # a prefix mixes the classes


def test_quickdraw_split_is_the_last_rows_of_each_class_and_repeatable(data_dir):
    cats = ["hat", "pig"]
    first = load_quickdraw(cats, max_per_class=50, root=data_dir, download=False,
                           test_fraction=0.3)
    second = load_quickdraw(cats, max_per_class=50, root=data_dir, download=False,
                            test_fraction=0.3)
    for a, b in zip(first[:4], second[:4]):
        np.testing.assert_array_equal(a, b)
    x_train, y_train, x_test, y_test, _ = first
    for label, cat in enumerate(cats):
        rows = np.load(data_dir / "quickdraw" / f"{cat}.npy")[:50].reshape(-1, 28, 28)
        def as_set(images):
            return {im.tobytes() for im in images}
        assert as_set(x_test[y_test == label]) == as_set(rows[35:])
        assert as_set(x_train[y_train == label]) == as_set(rows[:35])


def test_quickdraw_max_per_class_none_and_larger_than_file(data_dir):
    everything = load_quickdraw(["spider"], root=data_dir, download=False, test_fraction=0.1)
    capped = load_quickdraw(["spider"], max_per_class=10**6, root=data_dir, download=False,
                            test_fraction=0.1)
    assert everything[0].shape == capped[0].shape == (4500, 28, 28)
    assert everything[2].shape == (500, 28, 28)


def test_quickdraw_default_is_the_article_ten_and_missing_ones_are_explained(data_dir):
    with pytest.raises(FileNotFoundError) as info:
        load_quickdraw(root=data_dir, download=False)
    message = str(info.value)
    assert f"category {QUICKDRAW_ARTICLE_CATEGORIES[0]!r}" in message
    assert str(data_dir / "quickdraw") in message
    assert all(cat in message for cat in QUICKDRAW_LOCAL_CATEGORIES)   # what IS there


@pytest.mark.parametrize("kwargs, message", [
    (dict(categories=[]), "non-empty list"),
    (dict(categories=["hat", "hat"]), "must not repeat"),
    (dict(categories=["hat"], max_per_class=0), "max_per_class must be a positive integer"),
    (dict(categories=["hat"], test_fraction=1.0), r"test_fraction must be in \[0, 1\)"),
])
def test_quickdraw_bad_arguments(data_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_quickdraw(root=data_dir, download=False, **kwargs)


def test_quickdraw_corrupt_file_without_download(tmp_path):
    (tmp_path / "quickdraw").mkdir()
    np.save(tmp_path / "quickdraw" / "hat.npy", np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"hat\.npy holds uint8 \(4, 28, 28\), expected uint8 "
                                         r"\(N, 784\)"):
        load_quickdraw(["hat"], root=tmp_path, download=False)


# -------------------------------------------------------------------------------- as_batch

@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 1, 28, 28)])
def test_as_batch_uint8(backend, xp, shape):
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    batch = as_batch(images)
    assert isinstance(batch, xp.ndarray)
    assert batch.dtype == np.float32 and batch.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(minicnn.to_numpy(batch).reshape(images.shape), images / 255.0,
                               rtol=1e-6)


def test_as_batch_single_image_and_floats(backend, xp):
    assert as_batch(np.zeros((28, 28), np.uint8)).shape == (1, 1, 28, 28)
    floats = np.linspace(0, 1, 2 * 28 * 28).reshape(2, 28, 28)
    batch = as_batch(floats)
    assert batch.dtype == np.float32 and batch.shape == (2, 1, 28, 28)
    np.testing.assert_allclose(minicnn.to_numpy(batch)[:, 0], floats, rtol=1e-6)
    batch[...] = 0                                  # a copy: the caller's array is untouched
    assert floats.max() == 1.0


@pytest.mark.parametrize("images, message", [
    (np.linspace(0, 255, 2 * 28 * 28).reshape(2, 28, 28),
     r"float images must already lie in \[0, 1\].*0 to 255"),
    (np.full((2, 28, 28), 300, np.int64), "pixel values 0..255, received values from 300"),
    (np.zeros((2, 3, 28, 28, 1), np.uint8), r"received shape \(2, 3, 28, 28, 1\)"),
    (np.zeros((2, 28, 28), np.complex64), "received dtype complex64"),
    (np.full((2, 28, 28), np.nan, np.float32), "the images hold NaN or infinite pixels"),
    (np.where(np.arange(2 * 28 * 28).reshape(2, 28, 28) == 5, np.inf, 0.5),
     "the images hold NaN or infinite pixels"),
])
def test_as_batch_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        as_batch(images)


# ------------------------------------------------------------------------------ DataLoader

def _numbered(n):
    """n images whose pixels all equal (label % 256), labels 0..n-1: a batch names its samples."""
    y = np.arange(n, dtype=np.int64)
    x = np.broadcast_to((y % 256).astype(np.uint8)[:, None, None], (n, 28, 28)).copy()
    return x, y


def _epoch(loader):
    return [minicnn.to_numpy(yb) for _, yb in loader]


def test_loader_batches_dtype_shape_range_and_pairing(backend, xp):
    x, y = _numbered(300)
    loader = DataLoader(x, y, batch_size=64, seed=0)
    for xb, yb in loader:
        assert isinstance(xb, xp.ndarray) and isinstance(yb, xp.ndarray)
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape[1:] == (1, 28, 28) and xb.shape[0] == yb.shape[0]
        xb, yb = minicnn.to_numpy(xb), minicnn.to_numpy(yb)
        assert 0.0 <= xb.min() and xb.max() <= 1.0
        np.testing.assert_array_equal(np.rint(xb[:, 0, 5, 5] * 255), yb % 256)  # image with label


def test_loader_every_sample_once_per_epoch_and_partial_last_batch(backend):
    x, y = _numbered(10)
    loader = DataLoader(x, y, batch_size=4, seed=1)
    assert len(loader) == 3
    for _ in range(3):
        batches = _epoch(loader)
        assert [len(b) for b in batches] == [4, 4, 2]
        assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_loader_reshuffles_every_epoch(backend):
    x, y = _numbered(200)
    loader = DataLoader(x, y, batch_size=50, seed=2)
    orders = [np.concatenate(_epoch(loader)) for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(200))


def test_loader_same_seed_same_sequence_of_epochs(backend):
    x, y = _numbered(120)
    a, b, c = (DataLoader(x, y, batch_size=32, seed=s) for s in (7, 7, 8))
    for _ in range(2):
        ea, eb, ec = np.concatenate(_epoch(a)), np.concatenate(_epoch(b)), np.concatenate(_epoch(c))
        np.testing.assert_array_equal(ea, eb)
        assert not np.array_equal(ea, ec)


def test_loader_without_seed_follows_manual_seed(backend):
    x, y = _numbered(100)
    minicnn.manual_seed(3)
    first = np.concatenate(_epoch(DataLoader(x, y, batch_size=30)))
    minicnn.manual_seed(3)
    again = np.concatenate(_epoch(DataLoader(x, y, batch_size=30)))
    np.testing.assert_array_equal(first, again)


def test_loader_without_shuffle_keeps_order(backend):
    x, y = _numbered(10)
    assert np.concatenate(_epoch(DataLoader(x, y, batch_size=3, shuffle=False))).tolist() \
        == list(range(10))


def test_loader_real_mnist_epoch(mnist, backend):
    x, y = mnist[2][:1000], mnist[3][:1000]
    loader = DataLoader(x, y, batch_size=128, seed=0)
    labels = np.concatenate(_epoch(loader))
    assert len(loader) == 8 and np.bincount(labels).tolist() == np.bincount(y).tolist()


@pytest.mark.parametrize("args, kwargs, message", [
    ((np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.int64)), {},
     "DataLoader received 4 images but 3 labels"),
    ((np.zeros((4, 28, 28), np.uint8), np.zeros(4)), {}, "DataLoader expected integer class labels"),
    ((np.zeros((4, 784), np.uint8), np.zeros(4, np.int64)), {},
     r"received uint8 array of shape \(4, 784\)"),
    ((np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64)), {"batch_size": 0},
     "DataLoader batch_size must be an integer >= 1, received 0"),
])
def test_loader_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(*args, **kwargs)
