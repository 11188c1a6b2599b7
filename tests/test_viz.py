"""minicnn.viz on real MNIST and a trained LeNet: every function returns a Figure (or a widget),
and what it draws is checked against an independent computation."""
import copy
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason='minicnn.viz needs matplotlib: pip install "minicnn-by-hand[viz]"')
import matplotlib  # noqa: E402

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import minicnn  # noqa: E402
from minicnn import viz  # noqa: E402
from minicnn.models import lenet  # noqa: E402
from minicnn.train import fit, predict_proba  # noqa: E402

N_TEST = 1000     # test images for the confusion matrix and the mistakes
N_EMBED = 300     # images embedded with PCA / t-SNE


@pytest.fixture(scope="module")
def test_set(mnist):
    """The first N_TEST MNIST test images (uint8 (N, 28, 28)) and labels."""
    return mnist[2][:N_TEST], mnist[3][:N_TEST]


@pytest.fixture(scope="module")
def probs(trained_lenet, test_set):
    """(N_TEST, 10) class probabilities of the trained LeNet."""
    return predict_proba(trained_lenet, test_set[0])


def on_backend(model, backend, dtype=np.float32):
    """A copy of ``model`` on the active backend with parameters of ``dtype``."""
    return copy.deepcopy(model).to("gpu" if backend == "cupy" else "cpu", dtype)


def knn_accuracy(points, labels, k=5):
    """Leave-one-out k-nearest-neighbour accuracy: how well classes separate in ``points``."""
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    votes = labels[np.argsort(d, axis=1)[:, :k]]                      # (N, k)
    guess = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float((guess == labels).mean())


# -- training curves -------------------------------------------------------------------

def test_training_curves_draw_the_history_of_a_real_fit(mnist):
    minicnn.manual_seed(0)
    model = lenet(n_features=6)
    history = fit(model, minicnn.NLLLoss(), minicnn.SGD(model.parameters(), lr=0.05, momentum=0.9),
                  mnist[0][:512], mnist[1][:512], epochs=2, batch_size=64,
                  validation=(mnist[2][:256], mnist[3][:256]), seed=0, progress=False)
    fig = viz.plot_training_curves(history)
    assert isinstance(fig, Figure)
    ax_loss, ax_acc = fig.axes
    (train_loss, val_loss), (train_acc, val_acc) = ax_loss.lines, ax_acc.lines
    np.testing.assert_allclose(train_loss.get_ydata(), history.train_loss)
    np.testing.assert_allclose(val_loss.get_ydata(), history.val_loss)
    np.testing.assert_allclose(train_acc.get_ydata(), 100 * np.array(history.train_acc))
    np.testing.assert_allclose(val_acc.get_ydata(), 100 * np.array(history.val_acc))
    np.testing.assert_array_equal(train_loss.get_xdata(), [1, 2])


def test_training_curves_accept_a_dict_without_validation():
    fig = viz.plot_training_curves({"train_loss": [0.9, 0.5, 0.3], "train_acc": [0.7, 0.85, 0.9]})
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    with pytest.raises(ValueError, match="no per-epoch train_loss"):
        viz.plot_training_curves({"train_loss": []})


# -- mosaic and activations ----------------------------------------------------------------

def test_tile_lays_small_images_out_with_one_pixel_gaps(trained_lenet):
    w = minicnn.to_numpy(trained_lenet[0].weight.data)[:, 0]       # (24, 5, 5)
    grid = viz.tile(w, ncols=8)
    assert grid.shape == (3 * 6 - 1, 8 * 6 - 1)
    np.testing.assert_array_equal(grid[0:5, 0:5], w[0])             # first tile: filter 0
    np.testing.assert_array_equal(grid[0:5, 6:11], w[1])            # after a 1-pixel gap: filter 1
    np.testing.assert_array_equal(grid[6:11, 0:5], w[8])            # the second row starts at filter 8
    assert np.isnan(grid[5]).all() and np.isnan(grid[:, 5]).all()   # the gaps


def test_activation_maps_of_every_layer(trained_lenet, test_set, backend):
    model = on_backend(trained_lenet, backend)
    image = test_set[0][0]
    fig = viz.plot_activations(model, image, classes=[str(d) for d in range(10)])
    assert isinstance(fig, Figure)
    outputs = fig.layer_outputs
    assert len(outputs) == len(model)
    assert len(fig.axes) == len(model) + 1                            # the input, then one per layer
    assert [o.shape for o in outputs[:6]] == [(24, 24, 24), (24, 12, 12), (24, 12, 12),
                                              (24, 8, 8), (24, 4, 4), (24, 4, 4)]
    expected = minicnn.to_numpy(model.forward(minicnn.asarray(image[None, None] / np.float32(255))))[0]
    np.testing.assert_allclose(outputs[-1], expected, rtol=1e-5, atol=1e-5)
    assert f"predicted {expected.argmax()}" in fig.axes[-1].get_title()
    # the layer's 24 maps sit in one grid: the first tile is channel 0
    first_grid = np.asarray(fig.axes[1].images[0].get_array())
    np.testing.assert_allclose(first_grid[:24, :24], outputs[0][0], rtol=1e-6)


# -- confusion matrix, mistakes, one prediction -----------------------------------------------

def test_confusion_matrix_counts_match_a_loop(test_set, probs):
    y_true, y_pred = test_set[1], probs.argmax(axis=1)
    counts = viz.confusion_matrix(y_true, y_pred, 10)
    expected = np.zeros((10, 10), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == N_TEST
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(y_true, minlength=10))
    assert np.trace(counts) / N_TEST == pytest.approx((y_pred == y_true).mean())


def test_plot_confusion_matrix_counts_and_normalised(test_set, probs):
    y_true, y_pred = test_set[1], probs.argmax(axis=1)
    fig = viz.plot_confusion_matrix(y_true, y_pred, classes=[str(d) for d in range(10)])
    assert isinstance(fig, Figure)
    ax_counts, ax_norm = fig.axes
    np.testing.assert_array_equal(np.asarray(ax_counts.images[0].get_array()), fig.matrix)
    fractions = np.asarray(ax_norm.images[0].get_array())
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(fractions), np.diag(fig.matrix) / np.bincount(y_true, minlength=10))
    assert f"accuracy {(y_pred == y_true).mean():.1%}" in ax_counts.get_title()
    assert len(viz.plot_confusion_matrix(y_true, y_pred, kind="counts").axes) == 1


def test_confusion_matrix_rejects_mismatched_input():
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        viz.confusion_matrix(np.array([0, 1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="label 10, outside the 10 classes"):
        viz.confusion_matrix(np.array([0, 10]), np.array([0, 1]), 10)


def test_misclassified_grid_is_sorted_by_confidence(test_set, probs):
    images, y_true = test_set
    order = viz.misclassified(y_true, probs)
    pred = probs.argmax(axis=1)
    np.testing.assert_array_equal(np.sort(order), np.flatnonzero(pred != y_true))
    confidence = probs[order, pred[order]]
    assert np.all(np.diff(confidence) <= 0)
    assert len(order) > 0, "the trained model should make some mistakes on 1000 test digits"

    fig = viz.plot_misclassified(images, y_true, probs, n=12, ncols=6)
    assert isinstance(fig, Figure)
    np.testing.assert_array_equal(fig.indices, order[:12])
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == min(12, len(order))
    for ax, i in zip(shown, fig.indices):
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), images[i])
        assert ax.get_title() == f"true {y_true[i]}\npred {pred[i]} {probs[i, pred[i]]:.0%}"


def test_plot_prediction_shows_the_models_probabilities(trained_lenet, test_set, probs):
    images, labels = test_set
    classes = [f"digit {d}" for d in range(10)]
    fig = viz.plot_prediction(trained_lenet, images[3], classes, label=labels[3])
    assert isinstance(fig, Figure)
    np.testing.assert_allclose(fig.probabilities, probs[3], rtol=1e-4, atol=1e-6)
    heights = [bar.get_height() for bar in fig.axes[1].patches]
    np.testing.assert_allclose(heights, probs[3], rtol=1e-4, atol=1e-6)
    assert fig.get_suptitle().startswith(f"predicted digit {probs[3].argmax()}")
    with pytest.raises(ValueError, match="predicts 10 classes but 3 class names"):
        viz.plot_prediction(trained_lenet, images[3], ["a", "b", "c"])


# -- embeddings ---------------------------------------------------------------------------

def test_pca_by_hand_matches_the_covariance_eigenvalues(test_set):
    x = test_set[0][:N_EMBED].reshape(N_EMBED, -1) / 255.0
    result = viz.pca(x, n_components=5)
    eigenvalues = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]   # largest first
    np.testing.assert_allclose(result.explained_variance, eigenvalues[:5], rtol=1e-8)
    assert np.all(np.diff(result.explained_variance) < 0)
    np.testing.assert_allclose(result.explained_variance_ratio, eigenvalues[:5] / eigenvalues.sum(),
                               rtol=1e-8)
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(result.embedding.var(axis=0, ddof=1), result.explained_variance, rtol=1e-8)
    with pytest.raises(ValueError, match="PCA with 2 components needs at least 2 samples"):
        viz.pca(x[:1])


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_a_trained_layers_embedding_separates_classes_better_than_raw_pixels(trained_lenet, test_set,
                                                                           method):
    if method == "tsne":
        pytest.importorskip("sklearn", reason='t-SNE needs scikit-learn: pip install "minicnn-by-hand[viz]"')
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(1)          # OpenMP threads crawl on a shared, busy 2-core machine
    else:
        limit = None
    images, labels = test_set[0][:N_EMBED], test_set[1][:N_EMBED]
    try:
        fig = viz.plot_embedding(images, labels, model=trained_lenet, layers=[None, -3], method=method)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    assert isinstance(fig, Figure)
    raw, learned = fig.embeddings
    assert raw.shape == learned.shape == (N_EMBED, 2)
    assert "raw pixels (784)" in fig.axes[0].get_title()
    assert "layer 8 ReLU (50 activations)" in fig.axes[1].get_title()
    if method == "pca":
        np.testing.assert_allclose(raw, viz.pca(images.reshape(N_EMBED, -1) / 255.0).embedding, atol=1e-9)
    # the Quick, Draw! article's point: the network's features pull the classes apart
    assert knn_accuracy(learned, labels) > knn_accuracy(raw, labels) + 0.05


def test_layer_activations_are_the_layers_outputs(trained_lenet, test_set, backend):
    model = on_backend(trained_lenet, backend)
    images = test_set[0][:7]
    feats = viz.layer_activations(model, images, -3, batch_size=3)    # 3 batches: 3 + 3 + 1
    x = minicnn.asarray(images[:, None] / np.float32(255))
    for layer in model.layers[:9]:
        x = layer.forward(x)
    np.testing.assert_allclose(feats, minicnn.to_numpy(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="layer index 11 is out of range for a model of 11 layers"):
        viz.layer_activations(model, images, 11)


# -- widgets -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def widgets():
    return pytest.importorskip("ipywidgets",
                               reason='the widgets need ipywidgets: pip install "minicnn-by-hand[notebook]"')


def test_confusion_explorer_shows_the_images_of_the_chosen_cell(widgets, test_set, probs):
    images, y_true = test_set
    y_pred = probs.argmax(axis=1)
    explorer = viz.ConfusionExplorer(images, y_true, y_pred, max_images=8)
    assert isinstance(explorer, widgets.VBox)
    assert isinstance(explorer.figure, Figure) and isinstance(explorer.cell_figure, Figure)
    # it opens on the most frequent mistake
    counts = viz.confusion_matrix(y_true, y_pred, 10)
    off = counts - np.diag(np.diag(counts))
    assert off[explorer.true_dropdown.value, explorer.pred_dropdown.value] == off.max()

    for t, p in [(4, 9), (7, 7), (explorer.true_dropdown.value, explorer.pred_dropdown.value)]:
        explorer.select(t, p)
        expected = np.flatnonzero((y_true == t) & (y_pred == p))
        np.testing.assert_array_equal(explorer.indices, expected)
        drawn = [ax for ax in explorer.cell_figure.axes if ax.images]
        assert len(drawn) == min(8, len(expected))
        for ax, i in zip(drawn, expected):
            np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), images[i])
        assert f"<b>{len(expected)}</b> images" in explorer.caption.value
        assert explorer.cell_image.value[:4] == b"\x89PNG"

    explorer.pred_dropdown.value = 2            # what a click in the dropdown does
    np.testing.assert_array_equal(explorer.indices, np.flatnonzero((y_true == explorer.true_dropdown.value)
                                                                   & (y_pred == 2)))


def test_prediction_explorer_follows_its_slider(widgets, trained_lenet, test_set, probs):
    images, labels = test_set
    explorer = viz.PredictionExplorer(trained_lenet, images[:50], labels[:50])
    assert isinstance(explorer, widgets.VBox) and isinstance(explorer.slider, widgets.IntSlider)
    assert explorer.slider.max == 49
    np.testing.assert_allclose(explorer.figure.probabilities, probs[0], rtol=1e-4, atol=1e-6)
    explorer.slider.value = 17
    np.testing.assert_allclose(explorer.figure.probabilities, probs[17], rtol=1e-4, atol=1e-6)
    assert f"true {labels[17]}" in explorer.figure.get_suptitle()
    with pytest.raises(ValueError, match="image index 50 is outside 0..49"):
        explorer.show(50)


def test_training_panel_trains_and_redraws_after_every_epoch(widgets, mnist):
    x, y = mnist[0][:256], mnist[1][:256]
    panel = viz.TrainingPanel(lambda: lenet(n_features=4), x, y, validation=(mnist[2][:64], mnist[3][:64]),
                              seed=0)
    assert isinstance(panel, widgets.VBox)
    panel.epochs_slider.value = 3
    panel.batch_size_slider.value = 32
    panel.lr_slider.value = 0.05
    redraws = []
    panel.image.observe(lambda change: redraws.append(panel.figure.axes[0].lines[0].get_ydata().copy()),
                        names="value")
    history = panel.train()
    assert history.epochs == 3 and history.stopped is None
    assert [len(r) for r in redraws] == [1, 2, 3]                    # the curves grew epoch by epoch
    np.testing.assert_allclose(redraws[-1], history.train_loss)
    assert len(history.step_loss) == 3 * 8                           # 256 images / batch 32
    assert history.train_loss[-1] < history.train_loss[0]
    assert not panel.train_button.disabled
    assert panel.status.value.startswith("done: epoch 3/3")
    panel._on_click(panel.train_button)                             # the button's handler: a fresh model
    assert panel.history is not history and panel.history.epochs == 3


def test_training_panel_shows_a_failure_instead_of_raising(widgets, mnist):
    panel = viz.TrainingPanel(lenet(n_features=4), mnist[0][:64], mnist[1][:64] + 10)   # labels 10..19
    panel.epochs_slider.value = 1
    panel._on_click(panel.train_button)
    assert "training failed" in panel.status.value and not panel.train_button.disabled


# -- optional extras -----------------------------------------------------------------------

def test_missing_matplotlib_names_the_extra(monkeypatch, trained_lenet):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "minicnn-by-hand\[viz\]"'):
        viz.plot_activations(trained_lenet, np.zeros((28, 28), np.uint8))


def test_missing_ipywidgets_and_sklearn_name_the_extra(monkeypatch):
    from minicnn.viz import extras
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match=r'pip install "minicnn-by-hand\[notebook\]"'):
        extras.ipywidgets()
    with pytest.raises(ImportError, match=r'pip install "minicnn-by-hand\[viz\]"'):
        viz.tsne(np.random.default_rng(0).random((20, 3)))
