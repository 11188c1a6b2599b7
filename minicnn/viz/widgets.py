"""Interactive pieces for Jupyter (the ``notebook`` extra): ipywidgets VBoxes that draw with ``minicnn.viz`` into a
Figure (``.figure``) shown as a PNG beside ipywidgets' own controls only, so they work alike in any Jupyter and with
any matplotlib backend. Handlers are ordinary methods (``select``, ``show``, ``train``): no browser is needed."""
import numpy as np

from ..backend import to_numpy
from ..layers import LogSoftmax
from ..losses import CrossEntropyLoss, NLLLoss
from ..optim import SGD
from ..train import fit
from .activations import plot_prediction
from .confusion import class_label, image_grid, plot_confusion_matrix
from .curves import plot_training_curves
from .extras import figure_png, ipywidgets, new_figure

widgets = ipywidgets()


class ConfusionExplorer(widgets.VBox):
    """The confusion matrix (``.figure``) and two dropdowns that pick a (true, predicted) cell, opening on the most
    frequent mistake; its images (N, H, W) are drawn in ``.cell_figure``, their indices in ``.indices``."""
    def __init__(self, images, y_true, y_pred, classes=None, max_images=32, ncols=8):
        self.images, self.classes = to_numpy(images), classes
        self.y_true, self.y_pred = to_numpy(y_true), to_numpy(y_pred)
        if not len(self.images) == len(self.y_true) == len(self.y_pred):
            raise ValueError(f"ConfusionExplorer needs as many images as labels and predictions, received "
                             f"{len(self.images)} images, {len(self.y_true)} labels, {len(self.y_pred)} predictions")
        self.max_images, self.ncols = int(max_images), int(ncols)
        self.figure = plot_confusion_matrix(self.y_true, self.y_pred, classes, kind="counts")
        self.matrix = self.figure.matrix
        self.cell_figure = new_figure((1.2 * self.ncols, 2))
        options = [(class_label(classes, k), k) for k in range(len(self.matrix))]
        self.true_dropdown = widgets.Dropdown(options=options, description="true")
        self.pred_dropdown = widgets.Dropdown(options=options, description="predicted")
        self.caption = widgets.HTML()
        self.matrix_image = widgets.Image(value=figure_png(self.figure), format="png")
        self.cell_image = widgets.Image(format="png")
        self._holding = False
        for dropdown in (self.true_dropdown, self.pred_dropdown):
            dropdown.observe(lambda change: self._redraw(), names="value")
        super().__init__([self.matrix_image, widgets.HBox([self.true_dropdown, self.pred_dropdown]),
                          self.caption, self.cell_image])
        mistakes = self.matrix - np.diag(np.diag(self.matrix))
        t, p = np.unravel_index(mistakes.argmax(), mistakes.shape)
        self.select(int(t), int(p))

    def select(self, true_class, pred_class):
        """Choose a cell (what the dropdowns do) and show its images."""
        self._holding = True                          # one redraw for both dropdowns
        self.true_dropdown.value, self.pred_dropdown.value = int(true_class), int(pred_class)
        self._holding = False
        self._redraw()

    def _redraw(self):
        if self._holding:
            return
        t, p = self.true_dropdown.value, self.pred_dropdown.value
        self.indices = np.flatnonzero((self.y_true == t) & (self.y_pred == p))
        shown = self.indices[:self.max_images]
        what = f"true {class_label(self.classes, t)}, predicted {class_label(self.classes, p)}"
        more = f" (the first {len(shown)} shown)" if len(shown) < len(self.indices) else ""
        self.caption.value = f"<b>{len(self.indices)}</b> images with {what}{more}"
        image_grid(self.cell_figure, self.images[shown], [f"#{i}" for i in shown], self.ncols, f"no images with {what}")
        self.cell_image.value = figure_png(self.cell_figure)


class PredictionExplorer(widgets.VBox):
    """A slider (``.slider``) picks a test image; ``plot_prediction`` draws it and its prediction (``.figure``)."""
    def __init__(self, model, images, labels=None, classes=None, index=0):
        self.model, self.images, self.classes = model, to_numpy(images), classes
        self.labels = None if labels is None else to_numpy(labels)
        self.figure = new_figure((9, 3.6))
        self.slider = widgets.IntSlider(value=int(index), min=0, max=len(self.images) - 1, description="image",
                                        continuous_update=False, layout=widgets.Layout(width="600px"))
        self.image = widgets.Image(format="png")
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        super().__init__([self.slider, self.image])
        self.show(self.slider.value)

    def show(self, index):
        """Draw image ``index`` (what moving the slider does)."""
        index = int(index)
        if not 0 <= index < len(self.images):
            raise ValueError(f"image index {index} is outside 0..{len(self.images) - 1}")
        if self.slider.value != index:
            self.slider.value = index                 # the observer calls show again
            return
        label = None if self.labels is None else int(self.labels[index])
        plot_prediction(self.model, self.images[index], self.classes, label=label, fig=self.figure)
        self.image.value = figure_png(self.figure)


class TrainingPanel(widgets.VBox):
    """Sliders for epochs, batch size and learning rate, a Train button (``.train()``) and curves after every epoch.
    SGD with ``momentum``; NLLLoss after a LogSoftmax, else CrossEntropyLoss. ``model``: a Sequential (each Train
    continues it) or a function returning a new one (each Train starts afresh, e.g. ``minicnn.models.lenet``);
    validation: optional (x_val, y_val); ``.history``: the last run's History."""
    def __init__(self, model, x, y, validation=None, epochs=3, batch_size=64, lr=0.03, momentum=0.9, seed=None):
        self.make_model = model if callable(model) and not hasattr(model, "layers") else None
        self.model = model() if self.make_model else model
        self.x, self.y, self.validation = x, y, validation
        self.momentum, self.seed = momentum, seed
        self.history = None
        style = {"description_width": "110px"}
        self.epochs_slider = widgets.IntSlider(value=epochs, min=1, max=30, description="epochs", style=style)
        self.batch_size_slider = widgets.SelectionSlider(options=[8, 16, 32, 64, 128, 256, 512], value=batch_size,
                                                         description="batch size", style=style)
        self.lr_slider = widgets.FloatLogSlider(value=lr, base=10, min=-4, max=0, step=0.1, style=style,
                                                description="learning rate", readout_format=".4f")
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.status = widgets.HTML("press Train")
        self.figure = new_figure((10, 3.8))
        self.image = widgets.Image(format="png")
        self.train_button.on_click(self._on_click)
        sliders = widgets.VBox([self.epochs_slider, self.batch_size_slider, self.lr_slider])
        super().__init__([widgets.HBox([sliders, self.train_button]), self.status, self.image])

    def _on_click(self, button):
        # An exception in a click handler would vanish into the browser's log; show it instead.
        try:
            self.train()
        except Exception as e:  # noqa: BLE001
            self.status.value = f"<span style='color:#b00'>training failed: {e}</span>"

    def train(self):
        """Train with the sliders' settings, redrawing the curves after every epoch; return the History."""
        if self.make_model is not None:
            self.model = self.make_model()
        loss = NLLLoss() if isinstance(self.model.layers[-1], LogSoftmax) else CrossEntropyLoss()
        optimizer = SGD(self.model.parameters(), lr=self.lr_slider.value, momentum=self.momentum)
        epochs = self.epochs_slider.value
        self.train_button.disabled = True
        self.status.value = f"training for {epochs} epochs..."
        try:
            self.history = fit(self.model, loss, optimizer, self.x, self.y, epochs=epochs, seed=self.seed,
                               batch_size=self.batch_size_slider.value, validation=self.validation, progress=False,
                               callbacks=[lambda epoch, history: self._after_epoch(history, epochs)])
        finally:
            self.train_button.disabled = False
        stopped = f" (stopped early: {self.history.stopped})" if self.history.stopped else ""
        self.status.value = f"done: {self.status.value}{stopped}"
        return self.history

    def _after_epoch(self, history, epochs):
        self.status.value = history.epoch_line(epochs)
        plot_training_curves(history, fig=self.figure)
        self.image.value = figure_png(self.figure)
