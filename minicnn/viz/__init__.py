"""minicnn.viz: look inside a network and at its mistakes (the ``viz`` extra: matplotlib, scikit-learn).
Every ``plot_*`` function returns a matplotlib Figure (shown once as a cell's last value; ``fig.savefig(path)``
writes it): training curves, every layer's output, the confusion matrix, the most confident mistakes, one
prediction, PCA or t-SNE embeddings. The widgets need the ``notebook`` extra (ipywidgets)."""
from .activations import plot_activations, plot_prediction, tile
from .confusion import confusion_matrix, misclassified, plot_confusion_matrix, plot_misclassified
from .curves import plot_training_curves
from .embedding import PCAResult, features, pca, plot_embedding, tsne
from .extras import figure_png
from .probe import layer_activations, layer_outputs, predict_image

WIDGETS = ("ConfusionExplorer", "PredictionExplorer", "TrainingPanel")

__all__ = ["plot_activations", "confusion_matrix", "misclassified", "plot_confusion_matrix", "plot_misclassified",
           "plot_training_curves", "PCAResult", "features", "pca", "plot_embedding", "tsne", "tile", "plot_prediction",
           "layer_activations", "layer_outputs", "predict_image", "figure_png", *WIDGETS]


def __getattr__(name):
    # The widgets import ipywidgets, so they are loaded only when first asked for.
    if name in WIDGETS:
        from . import widgets
        return getattr(widgets, name)
    raise AttributeError(f"module 'minicnn.viz' has no attribute {name!r}")
