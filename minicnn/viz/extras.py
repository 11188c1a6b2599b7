"""The figures viz draws into, and the optional libraries it draws with (the ``viz`` and ``notebook`` extras)."""
import io
import sys

from ..optional import pip_install, require

VIZ, NOTEBOOK = pip_install("viz"), pip_install("notebook")


def new_figure(figsize, **kwargs):
    """A Figure that pyplot does not track: shown once as a cell's value, freed with its last reference."""
    Figure = require("matplotlib.figure", "minicnn.viz plotting", VIZ).Figure
    # In a Jupyter kernel, make sure a Figure that is a cell's value is drawn as a PNG: the inline backend
    # registers this only once pyplot has drawn something, and our Figures bypass pyplot.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "display_formatter"):
        png = shell.display_formatter.formatters["image/png"]
        try:
            png.lookup_by_type(Figure)                 # already there (the inline backend's, or ours)
        except KeyError:
            png.for_type(Figure, figure_png)
    return Figure(figsize=figsize, layout="constrained", **kwargs)


def figure_png(fig, dpi=None):
    """The Figure rendered as PNG bytes (what Jupyter and an ``ipywidgets.Image`` show)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def clear_figure(fig, figsize=None):
    """Reuse ``fig`` (widgets redraw into the same Figure) or make a new one."""
    if fig is None:
        return new_figure(figsize)
    fig.clear()
    return fig


def ipywidgets():
    return require("ipywidgets", "the interactive minicnn.viz widgets", NOTEBOOK)


def colormap(name, bad="white"):
    """A copy of a matplotlib colormap that paints NaN (the gaps of a mosaic) in ``bad``."""
    import matplotlib
    return matplotlib.colormaps[name].with_extremes(bad=bad)
