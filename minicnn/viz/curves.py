"""Training curves: loss and accuracy per epoch, training against validation."""
import numpy as np

from .extras import clear_figure

FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc")


def plot_training_curves(history, fig=None):
    """Two panels, loss and accuracy per epoch, training (solid) vs validation (dashed), from a ``History``, a dict
    or any object with the ``FIELDS`` lists (val_* optional); accuracies, fractions in [0, 1], shown as percentages."""
    get = history.get if isinstance(history, dict) else lambda name, default: getattr(history, name, default)
    lists = {name: [np.nan if v is None else float(v) for v in (get(name, None) or [])] for name in FIELDS}
    if not lists["train_loss"]:
        raise ValueError("the history has no per-epoch train_loss values: train for at least one "
                         "epoch, or pass an object with the lists train_loss, train_acc, val_loss, val_acc")
    fig = clear_figure(fig, (10, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, metric, label, scale in ((ax_loss, "loss", "loss", 1.0), (ax_acc, "acc", "accuracy", 100.0)):
        for split, style, name in (("train", "-o", "training"), ("val", "--s", "validation")):
            values = lists[f"{split}_{metric}"]
            if values and not np.all(np.isnan(values)):
                ax.plot(np.arange(1, len(values) + 1), np.asarray(values) * scale, style, label=name, markersize=4)
        ax.set(xlabel="epoch", ylabel=label + (" (%)" if metric == "acc" else ""), title=label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig
