"""minicnn.viz: look inside a network and at its mistakes (the ``viz`` extra: matplotlib, scikit-learn).

Every ``plot_*`` function returns a matplotlib Figure (shown once when it is a
notebook cell's last value; ``fig.savefig(path)`` writes it to a file).
The interactive widgets need the ``notebook`` extra (ipywidgets).

    plot_training_curves(history)                 loss and accuracy per epoch
    plot_filters(model, layer)                    a Conv2d layer's weights
    plot_activations(model, image)                every layer's output for one image
    plot_confusion_matrix(y_true, y_pred)         counts and row-normalised
    plot_misclassified(images, y_true, probs)     the most confident mistakes
    plot_prediction(model, image, classes)        the image and each class's probability
    plot_embedding(images, labels, model=, layers=, method="pca" | "tsne")
    plot_saliency(model, image)                   d(class score) / d(pixels)
    ConfusionExplorer, PredictionExplorer, TrainingPanel   (ipywidgets)
"""
from .activations import plot_activations
from .confusion import confusion_matrix, misclassified, plot_confusion_matrix, plot_misclassified
from .curves import plot_training_curves
from .embedding import PCAResult, features, pca, plot_embedding, tsne
from .extras import figure_png
from .filters import plot_filters, tile
from .prediction import plot_prediction
from .probe import layer_activations, layer_outputs, predict_image
from .saliency import plot_saliency, saliency

WIDGETS = ("ConfusionExplorer", "PredictionExplorer", "TrainingPanel")

__all__ = ["plot_activations", "confusion_matrix", "misclassified", "plot_confusion_matrix",
           "plot_misclassified", "plot_training_curves", "PCAResult", "features", "pca",
           "plot_embedding", "tsne", "plot_filters", "tile", "plot_prediction", "layer_activations",
           "layer_outputs", "predict_image", "plot_saliency", "saliency", "figure_png", *WIDGETS]


def __getattr__(name):
    # The widgets import ipywidgets, so they are loaded only when first asked for.
    if name in WIDGETS:
        from . import widgets
        return getattr(widgets, name)
    raise AttributeError(f"module 'minicnn.viz' has no attribute {name!r}")
