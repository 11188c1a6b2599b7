"""MNIST, Fashion-MNIST and Quick, Draw!: found on disk, or downloaded and verified. Each has its own
folder under the data root (``data_root``) holding the upstream files: mnist/ and fashion-mnist/ the
four IDX files (train-images-idx3-ubyte.gz ...), quickdraw/ one <category>.npy (uint8 (N, 784)) each.
"""
import re

import numpy as np

from .download import DEFAULT_TIMEOUT, data_root, download_file, file_md5
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

MNIST_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
# The ten categories of the Quick, Draw! CNN article: the loader's default.
QUICKDRAW_ARTICLE_CATEGORIES = ("cloud", "sun", "pants", "umbrella", "table", "ladder",
                                "eyeglasses", "clock", "scissors", "cup")
# Ten categories of the 20-category subset that the offline tests use (its README says what it is).
QUICKDRAW_LOCAL_CATEGORIES = ("eyeglasses", "banana", "chair", "hat", "keyboard", "laptop",
                              "penguin", "pig", "snowman", "spider")

# yann.lecun.com no longer serves MNIST; these are the mirrors torchvision and TensorFlow use.
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                         "https://storage.googleapis.com/tensorflow/tf-keras-datasets/")
QUICKDRAW_MIRRORS = ("https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/",)

# Published md5 digests, in the order train images, train labels, test images, test labels.
MNIST_FILES = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
               "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
               "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
               "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
FASHION_MNIST_FILES = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                       "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                       "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                       "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}


def _load_idx_dataset(title, folder_name, files, default_mirrors, root, download, mirrors, timeout, progress):
    """The four arrays of ``files`` ({name: md5}); a missing or corrupt file is downloaded (if ``download``)."""
    folder = data_root(root) / folder_name
    mirrors = list(default_mirrors if mirrors is None else mirrors)      # tried again for every file
    for name, md5 in files.items():
        path = folder / name
        if path.is_file():
            got = file_md5(path)
            if got == md5:
                continue
            if not download:
                raise ValueError(f"{title} file {path} is corrupt: md5 {got}, expected {md5}; "
                                 f"delete it, or call with download=True to fetch it again")
        elif not download:
            hint = ""
            if (folder.parent / name).is_file():
                hint = (f" ({name} is in {folder.parent} itself: root= must be the folder that "
                        f"contains '{folder.name}/', not the dataset folder)")
            missing = [n for n in files if not (folder / n).is_file()]
            raise FileNotFoundError(f"{title} is not in {folder}: missing {', '.join(missing)} "
                                    f"(call with download=True, or put the files there){hint}")
        download_file(name, folder, mirrors, md5=md5, timeout=timeout, progress=progress, what=f"{title} file {name}",
                      hint=f"\n{title} needs these files in that folder: {', '.join(files)}.")
    names, out = list(files), []
    for images, labels in (names[:2], names[2:]):                # train, then test
        x = read_idx(folder / images, expected_magic=IMAGES_MAGIC)   # (N, 28, 28) uint8
        y = read_idx(folder / labels, expected_magic=LABELS_MAGIC)   # (N,) uint8
        if len(x) != len(y):
            raise ValueError(f"{title}: {images} holds {len(x)} images but {labels} holds {len(y)} labels")
        out += [x, y.astype(np.int64)]
    return tuple(out)


def load_mnist(root=None, download=True, mirrors=None, *, timeout=DEFAULT_TIMEOUT, progress=True):
    """The MNIST digits: ``(x_train, y_train, x_test, y_test)``.
    x_train: uint8 (60000, 28, 28), 0 = background, 255 = ink;  y_train: int64 (60000,) in 0..9
    x_test:  uint8 (10000, 28, 28);                              y_test:  int64 (10000,)
    root: the folder that holds ``mnist/`` (see ``data_root``). download: fetch missing or corrupt files
    (md5-checked) from ``mirrors`` (base URLs, in order; default MNIST_MIRRORS), else FileNotFoundError.
    """
    return _load_idx_dataset("MNIST", "mnist", MNIST_FILES, MNIST_MIRRORS, root, download, mirrors, timeout, progress)


def load_fashion_mnist(root=None, download=True, mirrors=None, *, timeout=DEFAULT_TIMEOUT, progress=True):
    """Zalando's Fashion-MNIST, shaped like MNIST, labels indexing FASHION_MNIST_CLASSES; files in
    ``<root>/fashion-mnist/``; the arguments are those of ``load_mnist`` (mirrors: FASHION_MNIST_MIRRORS)."""
    return _load_idx_dataset("Fashion-MNIST", "fashion-mnist", FASHION_MNIST_FILES, FASHION_MNIST_MIRRORS,
                             root, download, mirrors, timeout, progress)


def _open_bitmaps(path):
    """A Quick, Draw! bitmap file, memory-mapped: uint8 (N, 784); ValueError if it is not one."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - truncated, pickled or not a .npy file at all
        raise ValueError(f"Quick, Draw! file {path} is not a readable .npy array ({e})") from e
    if a.dtype != np.uint8 or a.ndim != 2 or a.shape[1] != 784 or a.shape[0] == 0:
        raise ValueError(f"Quick, Draw! file {path} holds {a.dtype} {a.shape}, expected uint8 (N, 784) with N >= 1")
    return a


def _present_categories(folder):
    return ", ".join(sorted(p.stem for p in folder.glob("*.npy"))) or "none"     # no folder: no files


def load_quickdraw(categories=None, max_per_class=None, root=None, download=True,
                   test_fraction=0.2, *, mirrors=None, timeout=DEFAULT_TIMEOUT, progress=True):
    """Quick, Draw! doodles: ``(x_train, y_train, x_test, y_test, classes)``.
    categories:    category names (default QUICKDRAW_ARTICLE_CATEGORIES); label i is categories[i].
    max_per_class: keep only the first this many drawings of each category (None keeps all).
    test_fraction: the *last* round(test_fraction * n) of a category's n kept drawings go to the test set.
    x_*: uint8 (N, 28, 28), 0 = background; y_*: int64 (N,); classes: list of the category names.
    Each set is in a fixed pseudo-random order (seed 0): a prefix such as x_train[:1000] mixes all classes.
    Files are ``<root>/quickdraw/<category>.npy``, downloaded if missing (about 100 MB each).
    """
    categories = QUICKDRAW_ARTICLE_CATEGORIES if categories is None else categories
    categories = [categories] if isinstance(categories, str) else list(categories)
    if not categories or not all(isinstance(c, str) and c for c in categories):
        raise ValueError(f"load_quickdraw: categories must be a non-empty list of category names, "
                         f"received {categories!r}")
    if len(set(categories)) != len(categories):
        raise ValueError(f"load_quickdraw: categories must not repeat, received {categories!r}")
    # A category becomes a file name (and a checkpoint's metadata may carry it): names only, no paths.
    unsafe = [c for c in categories if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _'-]{0,63}", c)]
    if unsafe:
        raise ValueError(f"load_quickdraw: {unsafe[0]!r} is not a category name (letters, digits, spaces, "
                         "hyphens; no paths)")
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer)) or max_per_class < 1):
        raise ValueError(f"load_quickdraw: max_per_class must be a positive integer or None, "
                         f"received {max_per_class!r}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"load_quickdraw: test_fraction must be in [0, 1), received {test_fraction!r}")
    folder = data_root(root) / "quickdraw"
    mirrors = list(QUICKDRAW_MIRRORS if mirrors is None else mirrors)

    train_x, train_y, test_x, test_y = [], [], [], []
    for label, category in enumerate(categories):
        path = folder / f"{category}.npy"
        bitmaps = None
        if path.is_file():
            try:
                bitmaps = _open_bitmaps(path)
            except ValueError:
                if not download:
                    raise                # else a corrupt cached file: fetch it again
        elif not download:
            raise FileNotFoundError(f"Quick, Draw! category {category!r} is not in {folder} (no {category}.npy); "
                                    f"categories present there: {_present_categories(folder)} "
                                    f"(call with download=True to fetch it)")
        if bitmaps is None:
            download_file(f"{category}.npy", folder, mirrors, check=_open_bitmaps, timeout=timeout,
                          progress=progress, what=f"Quick, Draw! category {category!r}",
                          hint=(f"\nAn HTTP 404 means no category has that name. Categories "
                                f"present in {folder}: {_present_categories(folder)}."))
            bitmaps = _open_bitmaps(path)
        kept = np.array(bitmaps[:max_per_class]).reshape(-1, 28, 28)  # (n, 28, 28), off the mmap
        n_train = len(kept) - int(round(test_fraction * len(kept)))
        train_x.append(kept[:n_train])
        test_x.append(kept[n_train:])
        train_y.append(np.full(n_train, label, dtype=np.int64))
        test_y.append(np.full(len(kept) - n_train, label, dtype=np.int64))
    order_rng = np.random.default_rng(0)
    out = []
    for xs, ys in ((train_x, train_y), (test_x, test_y)):
        x, y = np.concatenate(xs), np.concatenate(ys)
        order = order_rng.permutation(len(x))
        out += [x[order], y[order]]
    return (*out, categories)

