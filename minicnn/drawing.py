"""Draw a digit, see what the network sees, get a live prediction.

``preprocess_drawing`` turns any drawing (a canvas, a photo, a PIL image) into
the 28x28 picture MNIST's digits are made of; ``DrawingPad`` is the notebook
widget that uses it.
"""
import contextlib

import numpy as np

# MNIST's recipe (LeCun et al.): the ink is scaled to fit a 20x20 box, keeping its
# aspect ratio, then placed in a 28x28 field so that its centre of mass sits at the
# field's centre. The centre below was measured over the 10,000 MNIST test digits
# (mean of the per-image centres of mass, (row, column), counting from 0; spread
# 0.29 px). tests/test_drawing.py measures it again from the real files.
MNIST_CENTER_OF_MASS = (13.99, 14.01)
MNIST_SIZE = 28
MNIST_BOX = 20
# A pixel counts as ink above this level (0 = background, 1 = full ink); fainter
# pixels are the anti-aliased fringe or sensor noise and do not stretch the crop.
INK_THRESHOLD = 0.1


def _require_pillow():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError('preprocess_drawing needs Pillow: pip install "minicnn[viz]"') from e
    return Image


def center_of_mass(image):
    """(row, column) of the intensity-weighted centre of a (H, W) image, counting from 0."""
    image = np.asarray(image, dtype=np.float64)
    total = image.sum()
    if total <= 0:
        raise ValueError("center_of_mass needs an image with some ink; received an all-zero image")
    rows = np.arange(image.shape[0])
    cols = np.arange(image.shape[1])
    return float(image.sum(axis=1) @ rows / total), float(image.sum(axis=0) @ cols / total)


def _ink_image(image):
    """Any drawing -> float64 (H, W) with 1 = ink and 0 = background.

    Accepts a PIL image or an array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4),
    uint8 in [0, 255] or floats in [0, 1].
    """
    if hasattr(image, "getbands"):                       # a PIL image
        image = np.asarray(image.convert("RGBA") if "A" in image.getbands() or image.mode == "P"
                           else image.convert("L"))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"preprocess_drawing expects a grayscale (H, W), RGB (H, W, 3) or RGBA "
                         f"(H, W, 4) image; received an array of shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"preprocess_drawing received an empty image of shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"preprocess_drawing expects integer pixels in [0, 255]; received "
                             f"values from {a.min()} to {a.max()}")
        a = a.astype(np.float64) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError(f"preprocess_drawing expects float pixels in [0, 1]; received values "
                             f"from {np.nanmin(a)} to {np.nanmax(a)}")
        a = a.astype(np.float64)
    else:
        raise ValueError(f"preprocess_drawing expects a numeric image; received dtype {a.dtype}")

    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[:, :, 3]
        if alpha.min() < 1.0:
            # A transparent canvas (ipycanvas, a PNG with a cut-out): the ink is where
            # something was painted, whatever its colour.
            return alpha
        a = a[:, :, :3]
    if a.ndim == 3:
        a = a @ np.array([0.299, 0.587, 0.114])           # ITU-R 601 luma, as Pillow's "L"

    # Ink on paper is dark on light: the border is mostly background, so a light
    # border means invert. Subtracting the background level then removes the grey of
    # photographed paper.
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:
        a = 1.0 - a
        border = 1.0 - border
    background = float(np.median(border))
    if background > 0:
        a = np.clip((a - background) / (1.0 - background), 0.0, 1.0)
    return a


def preprocess_drawing(image):
    """Turn a drawing of any size into an MNIST-style digit, or None if it is empty.

    image: grayscale (H, W), RGB (H, W, 3) or RGBA (H, W, 4) array (uint8 or
    floats in [0, 1]) or a PIL image. White ink on black, dark ink on a light
    background (inverted first) and ink in the alpha channel all work.
    Returns float32 (1, 28, 28) in [0, 1], ink = 1, like ``data.as_batch(x)[i]``.

    The steps are MNIST's own: crop to the ink's bounding box, scale it to fit
    20x20 keeping the aspect ratio (anti-aliased), and place it in 28x28 with
    its centre of mass at ``MNIST_CENTER_OF_MASS``.
    """
    Image = _require_pillow()
    ink = _ink_image(image)                               # (H, W), 1 = ink
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]   # (h, w) bounding box

    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    # Pillow's bilinear resize widens its triangle filter when it shrinks, so a big canvas
    # is anti-aliased (area-weighted), and unlike Lanczos it never overshoots: the result
    # scales with the ink level and needs no clipping.
    small = Image.fromarray(crop.astype(np.float32)).resize((new_w, new_h),
                                                            Image.Resampling.BILINEAR)
    small = np.asarray(small, dtype=np.float64)                   # (new_h, new_w)
    if small.max() <= 0:
        return None
    # Every MNIST digit reaches full ink (254 or 255); a thin stroke shrunk 10x would
    # otherwise be a faint grey the network never saw in training.
    small = np.clip(small / small.max(), 0.0, 1.0)

    # An integer shift, as MNIST did (its digits' centres spread 0.29 px around the
    # mean: the standard deviation of a uniform +-0.5 px rounding error), so the ink
    # is not blurred again; clamped so a lopsided digit stays inside the field.
    com_row, com_col = center_of_mass(small)
    top = int(np.clip(round(MNIST_CENTER_OF_MASS[0] - com_row), 0, MNIST_SIZE - new_h))
    left = int(np.clip(round(MNIST_CENTER_OF_MASS[1] - com_col), 0, MNIST_SIZE - new_w))
    out = np.zeros((1, MNIST_SIZE, MNIST_SIZE), dtype=np.float32)     # (1, 28, 28)
    out[0, top:top + new_h, left:left + new_w] = small
    return out


# -- the drawing pad ----------------------------------------------------------------------

NO_MODEL_MESSAGE = "train or load a model first"
EMPTY_MESSAGE = "draw a digit first"


def _require_widgets():
    try:
        import ipycanvas
        import ipywidgets
    except ImportError as e:
        raise ImportError('DrawingPad needs ipycanvas and ipywidgets: '
                          'pip install "minicnn[notebook]"') from e
    return ipycanvas, ipywidgets


def _png(gray, scale=1):
    """(H, W) array in [0, 1] -> grayscale PNG bytes, each pixel a scale x scale block."""
    Image = _require_pillow()
    import io
    img = Image.fromarray(np.uint8(np.round(np.clip(gray, 0, 1) * 255)))      # mode "L"
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _tile(maps, columns=8, gap=1):
    """(C, H, W) maps -> one (rows*(H+gap), columns*(W+gap)) grid, each map scaled to [0, 1]."""
    c, h, w = maps.shape
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    maps = (maps - low) / np.where(high > low, high - low, 1.0)
    columns = min(columns, c)
    rows = -(-c // columns)
    padded = np.zeros((rows * columns, h + gap, w + gap))
    padded[:c, :h, :w] = maps
    # (rows, columns, H+gap, W+gap) -> (rows, H+gap, columns, W+gap) -> grid
    return padded.reshape(rows, columns, h + gap, w + gap).transpose(0, 2, 1, 3).reshape(
        rows * (h + gap), columns * (w + gap))


class DrawingPad:
    """A 280x280 canvas to draw a digit on, with a live prediction after every stroke.

    model: a trained minicnn model (``model.metadata["trained"]`` is True, as set by
    ``minicnn.train.fit`` and kept in saved checkpoints), or None for now; set
    ``pad.model`` later. classes: names of the outputs (default: the model's
    ``metadata["classes"]``, else "0", "1", ...). show_activations: also show the
    activation maps of every convolution for the drawing.

    Display it as the last expression of a notebook cell. It works in JupyterLab and
    Jupyter Notebook 7. In VS Code, install the Jupyter extension and have ipywidgets
    in the kernel's environment. In Colab, first run
    ``from google.colab import output; output.enable_custom_widget_manager()``.

    The strokes are also drawn with Pillow on a Python-side raster (``pad.raster``,
    the same brush), so predicting never reads the canvas's pixels back from the
    browser (that sync hangs in VS Code). State to read after a prediction:
    ``prediction_text``, ``prediction``, ``confidence``, ``top3`` [(name, p), ...]
    and ``network_input`` (the (1, 28, 28) image the network saw).
    """

    SIZE = 280

    def __init__(self, model, classes=None, brush=19, show_activations=False):
        Image = _require_pillow()
        ipycanvas, widgets = _require_widgets()
        from PIL import ImageDraw
        if not 1 <= brush <= 60:
            raise ValueError(f"DrawingPad brush must be between 1 and 60 px; received {brush}")
        self.model = model
        self.classes = None if classes is None else [str(c) for c in classes]
        self.brush = brush
        self.show_activations = show_activations
        self.raster = Image.new("L", (self.SIZE, self.SIZE), 0)   # white ink on black, 280x280
        self._raster_draw = ImageDraw.Draw(self.raster)
        self._last_point = None                                    # None when no stroke is active
        self.prediction_text = ""
        self.prediction = None
        self.confidence = None
        self.top3 = []
        self.network_input = None
        self.activations = []

        size = f"{self.SIZE}px"
        self.canvas = ipycanvas.Canvas(width=self.SIZE, height=self.SIZE,
                                       layout=widgets.Layout(width=size, height=size,
                                                             min_width=size, min_height=size))
        self.canvas.add_class("minicnn-canvas")
        self.canvas.on_client_ready(self._redraw_canvas)
        self.canvas.on_mouse_down(self._on_down)
        self.canvas.on_mouse_move(self._on_move)
        self.canvas.on_mouse_up(self._on_up)
        self.canvas.on_mouse_out(self._on_up)
        self.canvas.on_touch_start(self._on_touch_start)
        self.canvas.on_touch_move(self._on_touch_move)
        self.canvas.on_touch_end(lambda touches: self._on_up())
        self.canvas.on_touch_cancel(lambda touches: self._on_up())

        self.predict_button = widgets.Button(description="Predict", button_style="primary")
        self.clear_button = widgets.Button(description="Clear")
        self.predict_button.on_click(lambda _: self._predict_and_show_errors())
        self.clear_button.on_click(lambda _: self.clear())

        self.message = widgets.HTML(value=self._message_html(""))
        self.message.add_class("minicnn-prediction")
        self.bars = [(widgets.Label(layout=widgets.Layout(width="90px")),
                      widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="150px")),
                      widgets.Label(layout=widgets.Layout(width="50px"))) for _ in range(3)]
        self.network_image = widgets.Image(value=_png(np.zeros((28, 28)), 5), format="png",
                                           layout=widgets.Layout(width="140px", height="140px"))
        self.activation_box = widgets.VBox()
        side = widgets.VBox([
            self.message,
            widgets.HTML("<b>top 3</b>"),
            *[widgets.HBox(list(bar)) for bar in self.bars],
            widgets.HTML("<b>what the network sees (28x28)</b>"),
            self.network_image,
        ], layout=widgets.Layout(margin="0 0 0 16px"))
        self.widget = widgets.VBox([
            widgets.HBox([self.canvas, side]),
            widgets.HBox([self.predict_button, self.clear_button]),
            self.activation_box,
        ])
        self._redraw_canvas()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- strokes: each goes on the browser canvas and on the Python raster ----------------
    @contextlib.contextmanager
    def _drawing(self):
        """Send the canvas commands of the block as one message, addressed to this canvas."""
        from ipycanvas import hold_canvas
        # After a page reload, ipycanvas' browser side forgets which canvas its commands
        # are for while Python still thinks it knows (ipycanvas issue #322): name it again.
        self.canvas._canvas_manager._current_canvas = None
        with hold_canvas():
            yield self.canvas

    def _redraw_canvas(self):
        """Paint the canvas from the raster: on start, on Clear and when a new view connects."""
        ink = np.asarray(self.raster)                                  # (280, 280) uint8
        opaque = np.full_like(ink, 255)
        with self._drawing() as canvas:
            # RGBA, because ipycanvas would send an RGB array as a lossy JPEG
            canvas.put_image_data(np.dstack([ink, ink, ink, opaque]), 0, 0)    # (280, 280, 4)
            canvas.stroke_style = "white"
            canvas.fill_style = "white"
            canvas.line_width = self.brush
            canvas.line_cap = "round"
            canvas.line_join = "round"

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

    # A finger is a pen: the first touch point draws, further fingers are ignored.
    def _on_touch_start(self, touches):
        if touches:
            self._on_down(*touches[0])

    def _on_touch_move(self, touches):
        if touches:
            self._on_move(*touches[0])

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

    # -- prediction --------------------------------------------------------------------
    def _predict_and_show_errors(self):
        # Widget callbacks swallow exceptions into a log the learner never sees.
        try:
            self.predict()
        except Exception as e:  # noqa: BLE001
            self._show(f"error: {e}", None, None, [], self.network_input)

    def predict(self):
        """Classify the drawing; returns the predicted class name, or None with a message.

        Shows "train or load a model first" without a trained model and "draw a digit
        first" on an empty pad; neither raises.
        """
        metadata = getattr(self.model, "metadata", None) or {}
        if self.model is None or metadata.get("trained") is not True:
            self._show(NO_MODEL_MESSAGE, None, None, [], None)
            return None
        x = preprocess_drawing(np.asarray(self.raster))                 # (1, 28, 28) or None
        if x is None:
            self._show(EMPTY_MESSAGE, None, None, [], None)
            return None
        probs, activations = self._forward(x)                           # (K,)
        classes = self.classes or metadata.get("classes") or [str(i) for i in range(len(probs))]
        if len(classes) != len(probs):
            raise ValueError(f"DrawingPad has {len(classes)} class names but the model gives "
                             f"{len(probs)} scores")
        order = np.argsort(probs)[::-1][:3]
        top3 = [(str(classes[i]), float(probs[i])) for i in order]
        name, confidence = top3[0]
        self.activations = activations
        self._show(f"Prediction: {name} ({confidence:.1%})", name, confidence, top3, x)
        return name

    def _forward(self, x):
        """(1, 28, 28) image -> class probabilities (K,) and [(layer name, (C, H, W) maps)]."""
        from .backend import get_array_module, to_numpy
        from .layers import Conv2d
        params = self.model.parameters()
        if params:
            xp = get_array_module(params[0].data)
            batch = xp.asarray(x[None], dtype=params[0].data.dtype)     # (1, 1, 28, 28)
        else:
            from .backend import asarray
            batch = asarray(x[None])
        was_training = getattr(self.model, "training", False)
        self.model.eval()
        activations = []
        try:
            layers = list(getattr(self.model, "layers", []))
            if self.show_activations and layers:
                out = batch
                for i, layer in enumerate(layers):
                    out = layer.forward(out)
                    if isinstance(layer, Conv2d):    # its maps at full size, through its ReLU if any
                        maps = to_numpy(out)[0]                                    # (C, H, W)
                        if _relu_follows(layers, i):
                            activations.append((f"{i} (Conv2d + ReLU)", np.maximum(maps, 0)))
                        else:
                            activations.append((f"{i} (Conv2d)", maps))
                scores = out
            else:
                scores = self.model.forward(batch)
        finally:
            self.model.train(was_training)
        scores = to_numpy(scores).astype(np.float64).reshape(-1)        # (K,)
        # softmax works on raw scores and on log-probabilities alike
        e = np.exp(scores - scores.max())
        return e / e.sum(), activations

    def _show(self, text, name, confidence, top3, network_input):
        self.prediction_text = text
        self.prediction = name
        self.confidence = confidence
        self.top3 = top3
        self.network_input = network_input
        self.message.value = self._message_html(text)
        for k, (label, bar, percent) in enumerate(self.bars):
            cls, p = top3[k] if k < len(top3) else ("", 0.0)
            label.value, bar.value, percent.value = cls, p, (f"{p:.0%}" if cls else "")
        seen = np.zeros((28, 28)) if network_input is None else network_input[0]
        self.network_image.value = _png(seen, 5)
        if self.show_activations:
            _, widgets = _require_widgets()
            self.activation_box.children = [
                widgets.VBox([widgets.HTML(f"<b>activations of layer {title}</b>"),
                              widgets.Image(value=_png(_tile(maps), 3), format="png")])
                for title, maps in (self.activations if name is not None else [])]

    @staticmethod
    def _message_html(text):
        import html
        return f'<div style="font-size:1.4em; min-height:1.6em">{html.escape(text)}</div>'


def _relu_follows(layers, i):
    """Whether a ReLU comes right after layer i, or after a MaxPool2d that follows it
    (the two commute: relu(maxpool(x)) == maxpool(relu(x)))."""
    from .layers import MaxPool2d, ReLU
    after = layers[i + 1:i + 3]
    return (len(after) > 0 and isinstance(after[0], ReLU)) or (
        len(after) == 2 and isinstance(after[0], MaxPool2d) and isinstance(after[1], ReLU))
