"""One image and what the model says about it: the predicted class and every class's probability."""
import numpy as np

from ..backend import to_numpy
from .confusion import class_label
from .extras import clear_figure
from .probe import image_batch, predict_image


def plot_prediction(model, image, classes=None, label=None, fig=None):
    """Draw ``image`` ((H, W), (1, H, W) or (1, 1, H, W)) and a bar per class's probability (``fig.probabilities``,
    (K,)); the predicted class and ``label``, the true one if given, are named in the title, its bar outlined."""
    pixels = to_numpy(image_batch(image))[0]                # (C, H, W)
    probs = predict_image(model, image)                     # (K,)
    k = len(probs)
    if classes is not None and len(classes) != k:
        raise ValueError(f"the model predicts {k} classes but {len(classes)} class names were given")
    pred = int(probs.argmax())
    fig = clear_figure(fig, (9, 3.6))
    ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.8]})
    ax_img.imshow(pixels.mean(axis=0), cmap="gray", vmin=0, vmax=1)
    ax_img.set_axis_off()
    title = f"predicted {class_label(classes, pred)} ({probs[pred]:.1%})"
    if label is not None:
        title += f", true {class_label(classes, int(label))}"
    fig.suptitle(title, fontsize=11)   # above both panels: a fixed-aspect image crowds its own title
    colors = ["tab:orange" if c == pred else "tab:blue" for c in range(k)]
    bars = ax_bar.bar(np.arange(k), probs, color=colors)
    if label is not None:
        bars[int(label)].set(edgecolor="black", linewidth=2)
    ax_bar.set_xticks(np.arange(k), [class_label(classes, c) for c in range(k)],
                      rotation=90 if classes is not None and max(len(str(c)) for c in classes) > 2 else 0)
    ax_bar.set(ylim=(0, 1), ylabel="probability")
    fig.probabilities = probs
    return fig
