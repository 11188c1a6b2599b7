"""Datasets and batches: MNIST, Fashion-MNIST, Quick, Draw!, a validation split, a shuffling batch iterator
and augmentation. Files live in ``data_root()``, one folder per dataset, and are downloaded when missing.

    from minicnn.data import load_mnist, train_val_split, DataLoader
    x_train, y_train, x_test, y_test = load_mnist()      # uint8 (N, 28, 28), int64 (N,)
    x_train, y_train, x_val, y_val = train_val_split(x_train, y_train, val_size=5000)
    for xb, yb in DataLoader(x_train, y_train, batch_size=64, seed=0):
        ...                                               # float32 (64, 1, 28, 28) in [0, 1]
"""
from .augment import RandomAffine
from .datasets import (FASHION_MNIST_CLASSES, FASHION_MNIST_FILES, FASHION_MNIST_MIRRORS, MNIST_CLASSES,
                       MNIST_FILES, MNIST_MIRRORS, QUICKDRAW_ARTICLE_CATEGORIES, QUICKDRAW_LOCAL_CATEGORIES,
                       QUICKDRAW_MIRRORS, load_fashion_mnist, load_mnist, load_quickdraw)
from .download import DownloadError, data_root, download_file, file_md5
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from .loader import DataLoader, as_batch
from .split import train_val_split

__all__ = ["load_mnist", "load_fashion_mnist", "load_quickdraw", "DataLoader", "as_batch", "train_val_split",
           "RandomAffine", "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "QUICKDRAW_ARTICLE_CATEGORIES",
           "QUICKDRAW_LOCAL_CATEGORIES", "MNIST_MIRRORS", "FASHION_MNIST_MIRRORS", "QUICKDRAW_MIRRORS",
           "MNIST_FILES", "FASHION_MNIST_FILES", "DownloadError", "data_root", "download_file", "file_md5",
           "read_idx", "IMAGES_MAGIC", "LABELS_MAGIC"]
