"""Saliency: which pixels would change the predicted class's score most (Simonyan et al., 2013)."""
import numpy as np

from ..backend import get_array_module, to_numpy
from ..layers import LogSoftmax
from ..sequential import Sequential
from .confusion import class_label
from .extras import clear_figure
from .probe import eval_mode, image_batch, model_dtype


def saliency(model, image, target=None):
    """The gradient of class ``target``'s score with respect to the input pixels.

    image: (H, W), (C, H, W) or (1, C, H, W)  ->  (gradient (C, H, W) NumPy, target).
    ``target`` defaults to the predicted class. The gradient comes from the model's
    own hand-written backward (``backward(g, input_grad=True)`` with g one-hot at the target).
    If the model ends in LogSoftmax, the score is the one *before* it: the gradient
    is taken through every layer but the LogSoftmax, because a log-probability's
    gradient also subtracts the other classes' gradients, which blurs the picture.
    The model's parameter gradients are left as they were.
    """
    layers = model.layers[:-1] if isinstance(model.layers[-1], LogSoftmax) else model.layers
    scorer = Sequential(*layers)                      # the same layer objects, not a copy
    x = image_batch(image, model_dtype(model))        # (1, C, H, W)
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        with eval_mode(model):
            scores = scorer.forward(x)                # (1, K)
            k = scores.shape[1]
            target = int(scores[0].argmax()) if target is None else int(target)
            if not 0 <= target < k:
                raise ValueError(f"saliency target class {target} is outside the model's {k} classes "
                                 f"0..{k - 1}")
            grad = get_array_module(scores).zeros_like(scores)
            grad[0, target] = 1.0                     # d score[target] / d scores
            grad_x = scorer.backward(grad, input_grad=True)  # (1, C, H, W)
    finally:
        for p, g in saved:
            p.grad = g
    return to_numpy(grad_x)[0], target


def plot_saliency(model, image, classes=None, target=None, fig=None):
    """Three panels: the image, |gradient| (largest over channels) and the two overlaid.

    Returns the Figure; ``fig.saliency`` holds the signed gradient (C, H, W).
    """
    grad, target = saliency(model, image, target)
    pixels = to_numpy(image_batch(image))[0]           # (C, H, W)
    magnitude = np.abs(grad).max(axis=0)               # (H, W)
    scored = "score before LogSoftmax" if isinstance(model.layers[-1], LogSoftmax) else "score"
    fig = clear_figure(fig, (10, 3.8))
    ax_img, ax_map, ax_both = fig.subplots(1, 3)
    ax_img.imshow(pixels.mean(axis=0), cmap="gray", vmin=0, vmax=1)
    ax_img.set_title("input")
    shown = ax_map.imshow(magnitude, cmap="hot")
    ax_map.set_title(f"|d {scored} / d pixel|\nclass {class_label(classes, target)}", fontsize=9)
    fig.colorbar(shown, ax=ax_map, shrink=0.8)
    ax_both.imshow(pixels.mean(axis=0), cmap="gray", vmin=0, vmax=1)
    ax_both.imshow(magnitude, cmap="hot", alpha=0.55)
    ax_both.set_title("overlay")
    for ax in (ax_img, ax_map, ax_both):
        ax.set_axis_off()
    fig.saliency = grad
    return fig
