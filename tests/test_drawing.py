"""preprocess_drawing on synthetic and redrawn real digits; the DrawingPad without a browser."""
import importlib.util

import numpy as np
import pytest

pytest.importorskip("PIL", reason='Pillow is not installed (pip install "minicnn-by-hand[viz]")')
from PIL import Image, ImageDraw  # noqa: E402

import minicnn  # noqa: E402
from minicnn.drawing import (EMPTY_MESSAGE, MNIST_CENTER_OF_MASS, NO_MODEL_MESSAGE,  # noqa: E402
                             center_of_mass, preprocess_drawing)

PAD = 280


# -- synthetic drawings, made with Pillow the way a canvas would make them --------------------
def _seven(d, ink, width, box):
    x0, y0, x1, y1 = box
    d.line([(x0, y0), (x1, y0), (x0 + (x1 - x0) // 3, y1)], fill=ink, width=width, joint="curve")


def _zero(d, ink, width, box):
    d.ellipse(box, outline=ink, width=width)


def _one(d, ink, width, box):
    x0, y0, x1, y1 = box
    d.line([((x0 + x1) // 2, y0), ((x0 + x1) // 2 + 4, y1)], fill=ink, width=width)


def _four(d, ink, width, box):
    x0, y0, x1, y1 = box
    xm, ym = (x0 + x1) // 2, (y0 + y1) * 3 // 5
    d.line([(x0 + 10, y0), (x0, ym), (x1, ym)], fill=ink, width=width, joint="curve")
    d.line([(xm + 15, y0), (xm + 15, y1)], fill=ink, width=width)


# name: (shape, stroke width, bounding box on the 280x280 pad)
DRAWINGS = {
    "centred": (_seven, 19, (80, 40, 200, 240)),
    "off-centre": (_zero, 19, (170, 10, 270, 150)),
    "small": (_seven, 4, (20, 210, 50, 262)),
    "large": (_four, 19, (5, 5, 275, 275)),
    "thick": (_zero, 45, (40, 30, 240, 250)),
    "thin": (_four, 2, (100, 60, 220, 230)),
    "wide": (_seven, 12, (10, 120, 270, 170)),
    "tall-thin": (_one, 8, (120, 10, 160, 270)),
}
# How the drawing is stored: ipycanvas' transparent canvas (ink in alpha), white on black,
# and ink on paper (a light background that must be inverted first).
STYLES = {
    "L white on black": lambda: (Image.new("L", (PAD, PAD), 0), 255),
    "RGBA ink in alpha": lambda: (Image.new("RGBA", (PAD, PAD), (0, 0, 0, 0)), (20, 20, 20, 255)),
    "RGBA opaque white on black": lambda: (Image.new("RGBA", (PAD, PAD), (0, 0, 0, 255)),
                                           (255, 255, 255, 255)),
    "L black on white": lambda: (Image.new("L", (PAD, PAD), 255), 0),
    "RGB ink on grey paper": lambda: (Image.new("RGB", (PAD, PAD), (225, 220, 205)), (30, 30, 60)),
}


def draw(name, style):
    shape, width, box = DRAWINGS[name]
    image, ink = STYLES[style]()
    shape(ImageDraw.Draw(image), ink, width, box)
    return np.asarray(image)


def ink_box(image):
    """(height, width) of the bounding box of the non-zero pixels of a (H, W) image."""
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_mnist_center_of_mass_is_measured_from_mnist(mnist):
    """The recorded centre is what the 60,000 real training digits have, and it is about (14, 14)."""
    x_test = mnist[0].astype(np.float64)                          # (60000, 28, 28): training digits
    mass = x_test.sum(axis=(1, 2))
    rows = (x_test.sum(axis=2) @ np.arange(28)) / mass            # (60000,)
    cols = (x_test.sum(axis=1) @ np.arange(28)) / mass
    measured = (rows.mean(), cols.mean())
    assert np.allclose(measured, MNIST_CENTER_OF_MASS, atol=0.01), measured
    assert np.allclose(measured, (14, 14), atol=0.1)
    assert center_of_mass(x_test[0]) == pytest.approx((rows[0], cols[0]))
    # MNIST's digits fit 20x20 and all reach full ink, as preprocess_drawing makes them
    ink = x_test > 0
    assert ink.any(axis=2).sum(axis=1).max() == 20 and ink.any(axis=1).sum(axis=1).max() == 20
    assert x_test.max(axis=(1, 2)).min() >= 254


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("name", list(DRAWINGS))
def test_preprocess_makes_an_mnist_style_digit(name, style):
    x = preprocess_drawing(draw(name, style))
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0)
    h, w = ink_box(x[0] > 0)
    assert max(h, w) == 20 and min(h, w) <= 20                     # fits 20x20, touching it
    com = center_of_mass(x[0])
    assert np.allclose(com, (14, 14), atol=1.0), com
    # an integer shift is at most half a pixel from the target
    assert np.allclose(com, MNIST_CENTER_OF_MASS, atol=0.5 + 1e-9), com


@pytest.mark.parametrize("name", list(DRAWINGS))
def test_every_storage_style_gives_the_same_digit(name):
    """The same strokes stored as L, RGBA (ink in alpha) or ink on paper preprocess alike."""
    reference = preprocess_drawing(draw(name, "L white on black"))
    for style in STYLES:
        x = preprocess_drawing(draw(name, style))
        # the paper's colour and the RGB->grey weights change the ink level by a few percent
        assert np.abs(x - reference).max() < 0.08, style


def test_position_on_the_pad_does_not_matter():
    shifted = []
    for dx, dy in [(0, 0), (-70, 30), (60, -30)]:
        image = Image.new("L", (PAD, PAD))
        _seven(ImageDraw.Draw(image), 255, 19, (80 + dx, 40 + dy, 200 + dx, 240 + dy))
        shifted.append(preprocess_drawing(image))
    assert np.array_equal(shifted[0], shifted[1]) and np.array_equal(shifted[0], shifted[2])


def test_pil_image_and_any_size_are_accepted():
    image = Image.new("L", (640, 200))
    _zero(ImageDraw.Draw(image), 255, 10, (400, 20, 500, 180))
    from_pil = preprocess_drawing(image)
    assert from_pil.shape == (1, 28, 28)
    assert np.array_equal(from_pil, preprocess_drawing(np.asarray(image)))
    assert np.array_equal(from_pil, preprocess_drawing(np.asarray(image, dtype=np.float32) / 255))


@pytest.mark.parametrize("empty", [
    np.zeros((PAD, PAD), np.uint8),                                # nothing drawn on black
    np.full((PAD, PAD), 255, np.uint8),                            # blank paper
    np.zeros((PAD, PAD, 4), np.uint8),                             # a transparent canvas
    np.full((100, 50, 3), 0.8, np.float32),                        # grey paper, floats
    np.full((PAD, PAD, 1), 3, np.uint8),                           # below the ink threshold
], ids=["black", "white", "transparent", "grey-paper", "faint"])
def test_empty_drawing_gives_none(empty):
    assert preprocess_drawing(empty) is None


@pytest.mark.parametrize("bad, words", [
    (np.zeros((28, 28, 2)), "shape (28, 28, 2)"),
    (np.zeros((2, 28, 28, 1)), "shape (2, 28, 28, 1)"),
    (np.full((28, 28), 1.5), "float pixels in [0, 1]"),
    (np.full((28, 28), 300, np.int32), "integer pixels in [0, 255]"),
    (np.zeros((0, 28)), "empty image"),
    (np.array([["a"]]), "numeric image"),
])
def test_bad_input_is_one_clear_sentence(bad, words):
    with pytest.raises(ValueError, match="preprocess_drawing") as info:
        preprocess_drawing(bad)
    assert words in str(info.value)


def test_mnist_digits_come_back_unchanged(mnist):
    """An MNIST digit already follows the recipe, so preprocessing it is (nearly) the identity."""
    x_test = mnist[2][:1000]
    out = np.stack([preprocess_drawing(img) for img in x_test])[:, 0]   # (1000, 28, 28)
    error = np.abs(out - x_test / 255.0).mean(axis=(1, 2))              # (1000,)
    assert np.median(error) < 1e-3
    assert np.mean(error) < 0.01


def _predict(model, x):
    return np.argmax(minicnn.to_numpy(model.forward(minicnn.asarray(x))), axis=1)


def test_redrawn_mnist_digits_are_classified_nearly_as_well(trained_lenet, mnist):
    """Test digits scaled up and pasted anywhere on a 280x280 pad, then preprocessed."""
    x_test, y_test = mnist[2][:400], mnist[3][:400]
    rng = np.random.default_rng(0)
    redrawn = []
    for digit in x_test:
        size = int(rng.integers(90, PAD + 1))
        big = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
        pad = Image.new("L", (PAD, PAD))
        pad.paste(big, (int(rng.integers(0, PAD - size + 1)), int(rng.integers(0, PAD - size + 1))))
        redrawn.append(preprocess_drawing(pad))
    plain_accuracy = np.mean(_predict(trained_lenet, x_test[:, None] / np.float32(255)) == y_test)
    redrawn_accuracy = np.mean(_predict(trained_lenet, np.stack(redrawn)) == y_test)
    print(f"plain {plain_accuracy:.3f}, redrawn {redrawn_accuracy:.3f} "
          f"on {len(y_test)} test digits")
    assert plain_accuracy > 0.85
    assert redrawn_accuracy >= plain_accuracy - 0.03


# -- the pad, driven by simulated events ---------------------------------------------------------
from minicnn.drawing import DrawingPad  # noqa: E402

_WIDGETS_MISSING = any(importlib.util.find_spec(m) is None for m in ("ipycanvas", "ipywidgets"))
needs_widgets = pytest.mark.skipif(_WIDGETS_MISSING, reason="ipycanvas and ipywidgets are not "
                                   'installed (pip install "minicnn-by-hand[notebook]")')


@pytest.fixture(scope="module")
def saved_model(trained_lenet, tmp_path_factory):
    """The trained fixture model after a round trip through a checkpoint that says it is trained."""
    path = tmp_path_factory.mktemp("model") / "lenet.npz"
    trained_lenet.save(path, metadata={"trained": True})
    return minicnn.Sequential.load(path)


def send(pad, event, x, y):
    """Deliver a browser event the way ipycanvas does, through the canvas's message handler."""
    content = {"event": event, "x": x, "y": y}
    if event.startswith("touch"):
        content = {"event": event, "touches": [{"x": x, "y": y}] if event != "touch_end" else []}
    pad.canvas._handle_frontend_event(None, content, [])


def stroke(pad, points, kind="mouse"):
    down, move, up = (("mouse_down", "mouse_move", "mouse_up") if kind == "mouse"
                      else ("touch_start", "touch_move", "touch_end"))
    send(pad, down, *points[0])
    for p in points[1:]:
        send(pad, move, *p)
    send(pad, up, *points[-1])


ONE = [(140, 40 + 20 * i) for i in range(11)]                        # a vertical stroke
ZERO = [(140 + 60 * np.sin(a), 140 - 95 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 40)]


@needs_widgets
def test_pad_widgets_match_the_spec(saved_model, monkeypatch):
    pad = DrawingPad(saved_model)
    assert (pad.canvas.width, pad.canvas.height) == (PAD, PAD)
    assert (pad.canvas.layout.width, pad.canvas.layout.height) == ("280px", "280px")
    assert pad.canvas.line_cap == "round" and 18 <= pad.canvas.line_width <= 20
    assert {pad.predict_button.description, pad.clear_button.description} == {"Predict", "Clear"}
    shown = []                                        # what Jupyter would be asked to show
    monkeypatch.setattr("IPython.display.display", shown.append)
    pad._ipython_display_()
    assert shown == [pad.widget]


@needs_widgets
@pytest.mark.parametrize("kind", ["mouse", "touch"])
def test_a_stroke_gives_a_live_prediction(saved_model, kind):
    pad = DrawingPad(saved_model)
    stroke(pad, ONE, kind)
    ink = pad.ink                                                     # (280, 280) uint8
    assert ink.max() == 255
    stroke_width = (ink[140] > 0).sum()                               # one row across the stroke
    assert 18 <= stroke_width <= 21
    assert pad.prediction == "1"
    assert pad.prediction_text == f"Prediction: 1 ({pad.confidence:.1%})"
    assert len(pad.top3) == 3 and pad.top3[0] == ("1", pad.confidence)
    probs = [p for _, p in pad.top3]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
    # the widgets show the same numbers
    assert "Prediction: 1" in pad.message.value
    assert [(label.value, bar.value) for label, bar, _ in pad.bars] == pad.top3
    assert pad.network_input.shape == (1, 28, 28)
    assert pad.network_input.dtype == np.float32
    assert pad.network_image.value[:8] == b"\x89PNG\r\n\x1a\n"


@needs_widgets
def test_a_drawn_zero_is_a_zero_and_clear_empties_the_pad(saved_model):
    pad = DrawingPad(saved_model)
    stroke(pad, ZERO)
    assert pad.prediction == "0"
    pad.clear_button.click()
    assert pad.ink.max() == 0
    assert (pad.prediction_text, pad.prediction, pad.top3) == ("", None, [])
    assert pad.network_input is None
    assert all(bar.value == 0 for _, bar, _ in pad.bars)
    pad.predict_button.click()
    assert pad.prediction_text == EMPTY_MESSAGE


@needs_widgets
def test_moving_without_pressing_draws_nothing(saved_model):
    pad = DrawingPad(saved_model)
    for p in ONE:
        send(pad, "mouse_move", *p)
    send(pad, "mouse_up", 140, 200)
    assert pad.ink.max() == 0 and pad.prediction_text == ""


@needs_widgets
def test_leaving_the_canvas_ends_the_stroke(saved_model):
    pad = DrawingPad(saved_model)
    send(pad, "mouse_down", *ONE[0])
    for p in ONE[1:]:
        send(pad, "mouse_move", *p)
    send(pad, "mouse_out", 140, 279)
    assert pad.prediction == "1"
    before = pad.ink
    send(pad, "mouse_move", 20, 20)                                   # back in, button up
    assert np.array_equal(pad.ink, before)


@needs_widgets
@pytest.mark.parametrize("model", ["missing", "untrained"])
def test_without_a_trained_model_the_pad_says_so(model):
    from minicnn.models import lenet
    pad = DrawingPad(None if model == "missing" else lenet())
    assert pad.predict() is None
    assert pad.prediction_text == NO_MODEL_MESSAGE
    stroke(pad, ONE)                                          # a stroke does not raise either
    assert pad.ink.max() == 255
    assert pad.prediction_text == NO_MODEL_MESSAGE and NO_MODEL_MESSAGE in pad.message.value


@needs_widgets
def test_an_empty_pad_asks_for_a_digit(saved_model):
    pad = DrawingPad(saved_model)
    assert pad.predict() is None
    assert pad.prediction_text == EMPTY_MESSAGE and EMPTY_MESSAGE in pad.message.value


@needs_widgets
def test_model_can_be_set_later_and_class_names_are_used(saved_model):
    pad = DrawingPad(None, classes=[f"digit {i}" for i in range(10)])
    stroke(pad, ONE)
    assert pad.prediction_text == NO_MODEL_MESSAGE
    pad.model = saved_model
    assert pad.predict() == "digit 1"


@needs_widgets
def test_wrong_number_of_class_names_is_reported(saved_model):
    pad = DrawingPad(saved_model, classes=["cat", "dog"])
    stroke(pad, ONE)                                                  # a callback shows the error
    assert pad.prediction_text.startswith("error:") and "2 class names" in pad.prediction_text
    with pytest.raises(ValueError, match="2 class names but the model gives 10 scores"):
        pad.predict()


@needs_widgets
def test_bad_brush_is_refused():
    with pytest.raises(ValueError, match="brush must be between 1 and 60 px; received 0"):
        DrawingPad(None, brush=0)
