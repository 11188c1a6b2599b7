"""The optional libraries viz draws with, imported only when a function needs them.

``minicnn`` itself depends on NumPy alone; plotting needs the ``viz`` extra
(matplotlib, scikit-learn) and the interactive pieces the ``notebook`` extra
(ipywidgets). Each import below fails with one sentence saying what to install.
"""


def _missing(library, what, extra):
    return ImportError(f"{what} needs {library}, which is not installed: "
                       f'install it with `pip install "minicnn[{extra}]"`')


def new_figure(figsize, **kwargs):
    """A matplotlib Figure that pyplot does not track.

    Returned as a cell's last value it is shown exactly once in Jupyter, and
    it is freed as soon as nothing refers to it (no ``plt.close`` needed).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise _missing("matplotlib", "minicnn.viz plotting", "viz") from None
    return Figure(figsize=figsize, layout="constrained", **kwargs)


def clear_figure(fig, figsize=None):
    """Reuse ``fig`` (widgets redraw into the same Figure) or make a new one."""
    if fig is None:
        return new_figure(figsize)
    fig.clear()
    return fig


def tsne_class():
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise _missing("scikit-learn", "t-SNE embeddings", "viz") from None
    return TSNE


def ipywidgets():
    try:
        import ipywidgets
    except ImportError:
        raise _missing("ipywidgets", "the interactive minicnn.viz widgets", "notebook") from None
    return ipywidgets


def colormap(name, bad="white"):
    """A copy of a matplotlib colormap that paints NaN (the gaps of a mosaic) in ``bad``."""
    import matplotlib
    return matplotlib.colormaps[name].with_extremes(bad=bad)
