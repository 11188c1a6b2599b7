"""2-D maps of a data set, one dot per image coloured by class, by PCA (by hand) or t-SNE: as in the Quick,
Draw! article, raw pixels of different classes overlap while a trained network's later layers pull them apart.
Notation: N images, D features per image."""
from collections import namedtuple

import numpy as np

from ..backend import to_numpy
from ..optional import require
from .confusion import class_label
from .extras import VIZ, clear_figure, colormap
from .probe import layer_activations, layer_index

PCAResult = namedtuple("PCAResult", "embedding explained_variance explained_variance_ratio components mean")
TSNE_PCA_DIMS = 50   # t-SNE runs on the top 50 principal components, as scikit-learn's docs advise


def pca(x, n_components=2):
    """PCA by hand (centre, SVD, project on the top k = ``n_components``): x (N, D), or (N, ...) flattened ->
    PCAResult: embedding (N, k), the centred data on the components; explained_variance (k,), the covariance's top
    eigenvalues, largest first (explained_variance_ratio: as fractions of the total); components (k, D); mean (D,)."""
    x = np.asarray(to_numpy(x), dtype=np.float64).reshape(len(x), -1)   # (N, D)
    n, d = x.shape
    if n < 2 or not 1 <= n_components <= min(n, d):
        raise ValueError(f"PCA with {n_components} components needs at least 2 samples and "
                         f"1 <= n_components <= min(N, D); received data of shape {x.shape}")
    mean = x.mean(axis=0)                                    # (D,)
    centred = x - mean
    # centred = U @ diag(S) @ Vt; the rows of Vt are the covariance matrix's eigenvectors
    # and S**2 / (N - 1) its eigenvalues, largest first: no D x D matrix is ever formed.
    _, s, vt = np.linalg.svd(centred, full_matrices=False)   # s: (min(N, D),), vt: (min(N, D), D)
    components = vt[:n_components]                           # (k, D)
    # An eigenvector's sign is arbitrary; fix it so the same data always gives the same picture.
    signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    variance = s ** 2 / (n - 1)                              # (min(N, D),), largest first
    top = variance[:n_components]
    return PCAResult(embedding=centred @ components.T, explained_variance=top,    # embedding (N, k)
                     explained_variance_ratio=top / variance.sum(), components=components, mean=mean)


def tsne(x, n_components=2, perplexity=30.0, seed=0):
    """t-SNE embedding (N, n_components) with scikit-learn; data with more than 50 features is first reduced
    to its top 50 principal components (``pca`` above), which removes noise and makes t-SNE much faster."""
    x = np.asarray(to_numpy(x), dtype=np.float64).reshape(len(x), -1)
    if len(x) < 5:
        raise ValueError(f"t-SNE needs at least 5 samples, received {len(x)}")
    if x.shape[1] > TSNE_PCA_DIMS and len(x) > TSNE_PCA_DIMS:
        x = pca(x, TSNE_PCA_DIMS).embedding                  # (N, 50)
    TSNE = require("sklearn.manifold", "t-SNE embeddings", VIZ, "scikit-learn").TSNE
    perplexity = min(float(perplexity), (len(x) - 1) / 3)    # t-SNE needs perplexity < N
    return TSNE(n_components=n_components, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def features(images, model=None, layer=None):
    """What gets embedded, (N, H, W) or (N, C, H, W) images -> (N, D): raw pixels scaled to [0, 1]
    (``layer=None``), or the activations of ``model.layers[layer]`` (negative counts from the end)."""
    if layer is None:
        x = to_numpy(images).reshape(len(images), -1)
        return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if model is None:
        raise ValueError(f"embedding the activations of layer {layer} needs a model: pass model=...")
    return layer_activations(model, images, layer)


def plot_embedding(images, labels, classes=None, model=None, layers=None, method="pca", seed=0, fig=None):
    """Scatter a 2-D embedding (``method`` "pca" or "tsne") of ``images``, a colour per class, a panel per
    entry of ``layers``: None (raw pixels) or a layer index, e.g. ``[None, -3]`` for raw pixels beside the
    third-last layer's activations. Returns the Figure; ``fig.embeddings`` holds the (N, 2) arrays drawn."""
    if method not in ("pca", "tsne"):
        raise ValueError(f'method must be "pca" or "tsne", received {method!r}')
    labels = to_numpy(labels).astype(np.int64)
    if len(labels) != len(images):
        raise ValueError(f"images has {len(images)} entries but labels has {len(labels)}")
    layers = layers if isinstance(layers, (list, tuple)) else [layers]
    fig = clear_figure(fig, (5.2 * len(layers) + 1.6, 5))
    axes = np.atleast_1d(fig.subplots(1, len(layers)))
    cmap = colormap("tab10" if labels.max() < 10 else "tab20")
    fig.embeddings = []
    for ax, layer in zip(axes, layers):
        x = features(images, model, layer)                   # (N, D)
        if layer is None:
            source = f"raw pixels ({x.shape[1]})"
        else:
            i = layer_index(model, layer)
            source = f"layer {i} {type(model.layers[i]).__name__} ({x.shape[1]} activations)"
        if method == "pca":
            result = pca(x)
            points = result.embedding
            r1, r2 = result.explained_variance_ratio
            title = f"PCA of {source}\nPC1 {r1:.1%}, PC2 {r2:.1%} of the variance"
        else:
            points = tsne(x, seed=seed)
            title = f"t-SNE of {source}"
        fig.embeddings.append(points)
        for c in np.unique(labels):
            mine = labels == c
            ax.scatter(points[mine, 0], points[mine, 1], s=6, alpha=0.7, color=cmap(int(c) % cmap.N),
                       label=class_label(classes, int(c)))
        ax.set_title(title, fontsize=10)
        ax.set(xticks=[], yticks=[])
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2.5, fontsize=8)
    return fig
