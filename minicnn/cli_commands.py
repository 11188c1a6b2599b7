"""The ``minicnn`` commands evaluate and predict (train is in cli_train.py), run by ``minicnn.cli`` with its
flags. A problem the user can fix (a flag value, a file) is a UsageError: one line, exit status 2."""
import os

import numpy as np

from .sequential import Sequential

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_UNEXPECTED = 2, 1, 130, 1
QUICKDRAW_DEFAULT_MAX_PER_CLASS = 10000
# The images held out for validation are the same whatever --seed says: runs are compared on the same images.
SPLIT_SEED = 0
# What --augment does (RandomAffine's arguments), chosen on validation (scripts/results/sweep.txt).
AUGMENTATION = dict(degrees=10.0, translate=(0.1, 0.1))


class UsageError(Exception):
    """A bad flag value or a missing/unreadable file: reported in one line, exit 2."""


def _default_quickdraw_categories(data_dir):
    """(categories, why): the article's ten if present, else the local ten if present."""
    from . import data
    folder = data.data_root(data_dir) / "quickdraw"
    for names, why in ((data.QUICKDRAW_ARTICLE_CATEGORIES, f"the article's ten, found in {folder}"),
                       (data.QUICKDRAW_LOCAL_CATEGORIES,
                        f"the article's ten are not all in {folder}; using the ten local ones")):
        if all((folder / f"{c}.npy").is_file() for c in names):
            return list(names), why
    return list(data.QUICKDRAW_ARTICLE_CATEGORIES), "the article's ten, to be downloaded"


def _load(dataset, data_dir, download, categories=None, max_per_class=None):
    """(x_train, y_train, x_test, y_test, class names) for one of DATASETS."""
    from . import data
    kw = dict(root=data_dir, download=download)
    if dataset == "quickdraw":
        return data.load_quickdraw(categories=categories, max_per_class=max_per_class, **kw)
    if dataset == "mnist":
        return (*data.load_mnist(**kw), list(data.MNIST_CLASSES))
    return (*data.load_fashion_mnist(**kw), list(data.FASHION_MNIST_CLASSES))


def _narrator(args):
    """``print`` for the lines that narrate a run, or a function printing nothing under --quiet."""
    return (lambda *a, **k: None) if getattr(args, "quiet", False) else print


def _set_backend(name):
    import minicnn
    try:
        minicnn.set_backend(name)
    except RuntimeError as e:
        raise UsageError(str(e)) from None


def cmd_evaluate(args):
    from .train import evaluate
    from .viz.confusion import confusion_matrix
    _set_backend(args.backend)
    model = Sequential.load(args.model_file)          # a missing or bad file: main reports it
    meta = model.metadata
    dataset = args.dataset or meta.get("dataset") or "mnist"
    if meta.get("dataset") and dataset != meta["dataset"]:
        _narrator(args)(f"note: the model was trained on {meta['dataset']}, evaluating on {dataset}")
    categories = max_per_class = None
    if dataset == "quickdraw":
        if meta.get("dataset") != "quickdraw" or not meta.get("classes"):
            raise UsageError(f"{args.model_file} does not record Quick, Draw! categories (it was trained on "
                             f"{meta.get('dataset', 'unknown data')})")
        categories = meta["classes"]
        max_per_class = meta.get("max_per_class", QUICKDRAW_DEFAULT_MAX_PER_CLASS)
    # A checkpoint's metadata is data: the categories it names are read from disk, never downloaded.
    download = not args.no_download and categories is None
    _, _, x_test, y_test, classes = _load(dataset, args.data_dir, download, categories, max_per_class)
    x_test, y_test = x_test[:args.limit], y_test[:args.limit]               # [:None] keeps all
    k = _num_outputs(model, x_test.shape[1:])
    if k != len(classes):
        raise UsageError(f"{args.model_file} has {k} outputs but {dataset} has {len(classes)} classes")
    loss, accuracy, predictions = evaluate(model, x_test, y_test, batch_size=args.batch_size)
    confusion = confusion_matrix(y_test, predictions, k)                   # (true, predicted)
    print(f"{args.model_file} on the {dataset} test set ({len(y_test):,} images): accuracy {100 * accuracy:.2f}%, "
          f"loss {loss:.4f}")
    # A row's label: ' 3' for MNIST's class 3, ' 3 Dress' where the name says more than the index.
    labels = [f"{i:>2}" if str(name) == str(i) else f"{i:>2} {name}" for i, name in enumerate(classes)]
    print("", _per_class_table(labels, confusion), "", _confusion_table(labels, confusion), sep="\n")
    return 0


def _per_class_table(labels, confusion):
    """One line per class: its accuracy (recall) and how many test images it has."""
    width = max(len(label) for label in labels + ["class"])
    lines = [f"{'class':<{width}} {'accuracy':>9} {'images':>7}"]
    for i, label in enumerate(labels):
        total = confusion[i].sum()
        acc = f"{100 * confusion[i, i] / total:.2f}%" if total else "-"
        lines.append(f"{label:<{width}} {acc:>9} {total:>7,}")
    return "\n".join(lines)


def _confusion_table(labels, confusion):
    """The confusion matrix as text: row = true class, column = predicted class."""
    cell = max(4, len(f"{confusion.max():,}") + 1)
    width = max(len(label) for label in labels)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * width + "".join(f"{j:>{cell}}" for j in range(len(labels)))]
    for i, label in enumerate(labels):
        lines.append(f"{label:<{width}}" + "".join(f"{confusion[i, j]:>{cell},}" for j in range(len(labels))))
    return "\n".join(lines)


def _num_outputs(model, image_shape):
    shape = (1, *image_shape) if len(image_shape) == 2 else tuple(image_shape)
    try:
        return int(model.summary_rows(shape)[-1][1][-1])
    except ValueError as e:
        raise UsageError(f"the model cannot take images of shape {tuple(shape)}: {e}") from None


def cmd_predict(args):
    from .drawing import preprocess_drawing
    from .drawing.preprocess import open_image
    from .optional import pip_install, require
    from .train import predict_proba
    model = Sequential.load(args.model_file)
    if not os.path.isfile(args.image):
        raise UsageError(f"image file {args.image} does not exist")
    require("PIL.Image", "minicnn predict", pip_install("viz"), "Pillow")
    try:
        with open_image(args.image) as img:                    # refuses an image too large
            picture = preprocess_drawing(img)                  # (1, 28, 28) or None
    except OSError as e:                                       # PIL's UnidentifiedImageError is one
        raise UsageError(f"cannot read {args.image} as an image ({e})") from None
    except ValueError as e:
        raise UsageError(f"{e}" if str(args.image) in str(e) else f"{args.image}: {e}") from None
    if picture is None:
        raise UsageError(f"{args.image} is blank: there is no drawing in it to classify")
    shape = model.metadata.get("input_shape")
    if shape and tuple(shape) != picture.shape:
        raise UsageError(f"{args.model_file} expects images of shape {tuple(shape)}, but the image was prepared "
                         f"as {picture.shape}")
    probs = predict_proba(model, picture[None])[0]             # (K,)
    classes = model.metadata.get("classes") or []
    if len(classes) != len(probs):
        classes = [str(i) for i in range(len(probs))]
    top = np.argsort(-probs)[:args.top]
    _narrator(args)(f"{args.image}, as {args.model_file} sees it:")
    for rank, i in enumerate(top, 1):
        print(f"{rank}. {classes[i]:<12} {100 * probs[i]:6.2f}%")
    return 0
