"""The drawing pad: a 280x280 canvas in a notebook, with a live prediction after every stroke."""
import contextlib
import html

import numpy as np

from ..optional import pip_install, require
from .preprocess import MNIST_SIZE, preprocess_drawing

NO_MODEL_MESSAGE = "train or load a model first"
EMPTY_MESSAGE = "draw a digit first"
NOTEBOOK = pip_install("notebook")


def _png(gray, scale):
    """(H, W) array in [0, 1] -> grayscale PNG bytes, each pixel a scale x scale block."""
    import io
    from PIL import Image
    img = Image.fromarray(np.uint8(np.round(np.clip(gray, 0, 1) * 255)))      # mode "L"
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


class DrawingPad:
    """A 280x280 canvas to draw a digit on, with a live prediction after every stroke (in Colab, turn on its custom
    widget manager). model: a trained minicnn model (``metadata["trained"]`` True, as ``fit`` sets) or None, set
    later; classes: the outputs' names (default ``metadata["classes"]``, else "0", "1", ...). Strokes also go on a
    Pillow image, ``pad.raster``, so predicting never reads the canvas back from the browser (that hangs in VS Code).
    A prediction sets ``prediction_text``, ``prediction``, ``confidence``, ``top3`` [(name, p)], ``network_input``."""

    SIZE = 280

    def __init__(self, model, classes=None, brush=19):
        Image = require("PIL.Image", "DrawingPad", NOTEBOOK, "Pillow")
        ipycanvas = require("ipycanvas", "DrawingPad", NOTEBOOK)
        widgets = require("ipywidgets", "DrawingPad", NOTEBOOK)
        from PIL import ImageDraw
        if not 1 <= brush <= 60:
            raise ValueError(f"DrawingPad brush must be between 1 and 60 px; received {brush}")
        self.model = model
        self.classes = None if classes is None else [str(c) for c in classes]
        self.brush = brush
        self.raster = Image.new("L", (self.SIZE, self.SIZE), 0)   # white ink on black, 280x280
        self._raster_draw = ImageDraw.Draw(self.raster)
        self._last_point = None                                    # None when no stroke is active

        size = f"{self.SIZE}px"
        layout = widgets.Layout(width=size, height=size, min_width=size, min_height=size)
        self.canvas = ipycanvas.Canvas(width=self.SIZE, height=self.SIZE, layout=layout)
        self.canvas.add_class("minicnn-canvas")
        self.canvas.on_client_ready(self._redraw_canvas)
        self.canvas.on_mouse_down(self._on_down)
        self.canvas.on_mouse_move(self._on_move)
        self.canvas.on_mouse_up(self._on_up)
        self.canvas.on_mouse_out(self._on_up)
        # A finger is a pen: the first touch point draws, further fingers are ignored.
        self.canvas.on_touch_start(lambda touches: self._on_down(*touches[0]) if touches else None)
        self.canvas.on_touch_move(lambda touches: self._on_move(*touches[0]) if touches else None)
        self.canvas.on_touch_end(lambda touches: self._on_up())
        self.canvas.on_touch_cancel(lambda touches: self._on_up())

        self.predict_button = widgets.Button(description="Predict", button_style="primary")
        self.clear_button = widgets.Button(description="Clear")
        self.predict_button.on_click(lambda _: self._predict_and_show_errors())
        self.clear_button.on_click(lambda _: self.clear())
        self.message = widgets.HTML()
        self.message.add_class("minicnn-prediction")
        self.bars = [(widgets.Label(layout=widgets.Layout(width="90px")),
                      widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="150px")),
                      widgets.Label(layout=widgets.Layout(width="50px"))) for _ in range(3)]
        self.network_image = widgets.Image(format="png", layout=widgets.Layout(width="140px", height="140px"))
        side = widgets.VBox([self.message, widgets.HTML("<b>top 3</b>"),
                             *[widgets.HBox(list(bar)) for bar in self.bars],
                             widgets.HTML("<b>what the network sees (28x28)</b>"), self.network_image],
                            layout=widgets.Layout(margin="0 0 0 16px"))
        self.widget = widgets.VBox([widgets.HBox([self.canvas, side]),
                                    widgets.HBox([self.predict_button, self.clear_button])])
        self.clear()                      # paints the canvas and sets the prediction state

    def _ipython_display_(self):
        # Through display(), not the widget's mime bundle: ipywidgets 7 (what Colab ships) widgets have none.
        from IPython.display import display
        display(self.widget)

    @contextlib.contextmanager
    def _drawing(self):
        """Send the canvas commands of the block as one message, addressed to this canvas."""
        from ipycanvas import hold_canvas
        # ipycanvas issue #322: after a page reload the browser forgets the current canvas; None makes Python name it.
        self.canvas._canvas_manager._current_canvas = None
        with hold_canvas():
            yield self.canvas

    def _redraw_canvas(self):
        """Paint the canvas from the raster: on start, on Clear and when a new view connects."""
        ink = np.asarray(self.raster)                                  # (280, 280) uint8
        with self._drawing() as canvas:
            # RGBA, because ipycanvas would send an RGB array as a lossy JPEG
            canvas.put_image_data(np.dstack([ink, ink, ink, np.full_like(ink, 255)]), 0, 0)   # (280, 280, 4)
            canvas.stroke_style = canvas.fill_style = "white"
            canvas.line_width = self.brush
            canvas.line_cap = canvas.line_join = "round"

    def _on_down(self, x, y):
        """Mouse or finger down at canvas pixel (x, y): a new stroke starts with a dot."""
        r = self.brush / 2
        self._raster_draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
        with self._drawing() as canvas:
            canvas.fill_circle(x, y, r)
        self._last_point = (x, y)

    def _on_move(self, x, y):
        """Mouse or finger moved: extend the active stroke (ignored between strokes)."""
        if self._last_point is None:
            return
        x0, y0 = self._last_point
        r = self.brush / 2
        self._raster_draw.line([(x0, y0), (x, y)], fill=255, width=self.brush)
        self._raster_draw.ellipse([x - r, y - r, x + r, y + r], fill=255)   # round joint and cap
        with self._drawing() as canvas:
            canvas.stroke_line(x0, y0, x, y)
        self._last_point = (x, y)

    def _on_up(self, x=None, y=None):
        """Mouse up, finger lifted or pointer left the canvas: the stroke ends, predict."""
        if self._last_point is None:
            return
        if x is not None and y is not None:
            self._on_move(x, y)
        self._last_point = None
        self._predict_and_show_errors()

    @property
    def ink(self):
        """The drawing as a NumPy (280, 280) uint8 array, 255 = ink."""
        return np.asarray(self.raster).copy()

    def clear(self):
        """Erase the drawing and the prediction."""
        self.raster.paste(0, (0, 0, self.SIZE, self.SIZE))
        self._last_point = None
        self._redraw_canvas()
        self._show("", None, None, [], None)

    def _predict_and_show_errors(self):
        # Widget callbacks swallow exceptions into a log the learner never sees.
        try:
            self.predict()
        except Exception as e:  # noqa: BLE001
            self._show(f"error: {e}", None, None, [], self.network_input)

    def predict(self):
        """Classify the drawing: the predicted class name, or None (and a message) without a model or ink."""
        from ..viz.probe import layer_outputs
        metadata = getattr(self.model, "metadata", None) or {}
        if self.model is None or metadata.get("trained") is not True:
            self._show(NO_MODEL_MESSAGE, None, None, [], None)
            return None
        x = preprocess_drawing(np.asarray(self.raster))                 # (1, 28, 28) or None
        if x is None:
            self._show(EMPTY_MESSAGE, None, None, [], None)
            return None
        scores = layer_outputs(self.model, x)[-1].astype(np.float64)   # (K,) log-probabilities or scores
        e = np.exp(scores - scores.max())                               # a softmax suits both
        probs = e / e.sum()                                             # (K,)
        classes = self.classes or metadata.get("classes") or [str(i) for i in range(len(probs))]
        if len(classes) != len(probs):
            raise ValueError(f"DrawingPad has {len(classes)} class names but the model gives {len(probs)} scores")
        top3 = [(str(classes[i]), float(probs[i])) for i in np.argsort(probs)[::-1][:3]]
        name, confidence = top3[0]
        self._show(f"Prediction: {name} ({confidence:.1%})", name, confidence, top3, x)
        return name

    def _show(self, text, name, confidence, top3, network_input):
        self.prediction_text, self.prediction, self.confidence = text, name, confidence
        self.top3, self.network_input = top3, network_input
        self.message.value = f'<div style="font-size:1.4em; min-height:1.6em">{html.escape(text)}</div>'
        for k, (label, bar, percent) in enumerate(self.bars):
            cls, p = top3[k] if k < len(top3) else ("", 0.0)
            label.value, bar.value, percent.value = cls, p, (f"{p:.0%}" if cls else "")
        seen = np.zeros((MNIST_SIZE, MNIST_SIZE)) if network_input is None else network_input[0]
        self.network_image.value = _png(seen, 5)
