"""minicnn.train: fit, History, the NaN guard, Ctrl-C, evaluate and predict_proba, on real MNIST."""
import copy
import os
import signal
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import train_val_split
from minicnn.models import lenet
from minicnn.train import History, evaluate, fit, linear_decay, predict_proba


def _sgd(model, lr=0.05):
    return mc.SGD(model.parameters(), lr=lr, momentum=0.9)


def _weights(model):
    return [mc.to_numpy(p.data) for p in model.parameters()]


@pytest.fixture(scope="module")
def fitted(mnist):
    """lenet after one epoch of fit on the first 10,000 MNIST training digits (batch 32,
    lr 0.05 decaying linearly to 0): 95.93% test accuracy measured (seed 0; a PyTorch
    replica of the same run gave 96.3-96.9% over 4 seeds)."""
    x, y = mnist[0][:10000], mnist[1][:10000]
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), _sgd(model), x, y, epochs=1, batch_size=32, seed=0,
                  progress=False, lr_schedule=linear_decay(0.05))
    return model, history


def test_one_epoch_on_10000_digits_reaches_95_percent(fitted, mnist):
    """The short real-data check CI runs: 1 epoch, 10,000 images, the full test set."""
    model, history = fitted
    loss, accuracy, predictions = evaluate(model, mnist[2], mnist[3])
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f} after one epoch on 10,000 digits"
    assert history.stopped is None and history.epochs == 1
    assert predictions.shape == (10000,) and predictions.dtype == np.int64
    assert 0 < loss < 0.25


def test_fit_improves_accuracy_on_a_small_real_subset(backend, mnist):
    x, y, x_val, y_val = train_val_split(mnist[0][:2500], mnist[1][:2500], val_size=500)
    x_test, y_test = mnist[2][:1000], mnist[3][:1000]
    mc.manual_seed(1)
    model = lenet()
    _, before, _ = evaluate(model, x_test, y_test)
    history = fit(model, mc.NLLLoss(), _sgd(model), x, y, epochs=2, batch_size=32, seed=1,
                  validation=(x_val, y_val), progress=False)
    _, after, _ = evaluate(model, x_test, y_test)
    assert before < 0.3, f"an untrained lenet should be near chance, got {before:.3f}"
    assert after > 0.8, f"2 epochs on 2,000 digits reached only {after:.3f}"
    assert history.val_acc[-1] == pytest.approx(evaluate(model, x_val, y_val)[1])
    assert history.train_loss[1] < history.train_loss[0]


def test_history_records_every_epoch(mnist):
    x, y = mnist[0][:300], mnist[1][:300]
    mc.manual_seed(2)
    model = lenet()
    assert model.metadata.get("trained") is None
    seen_by_callback = []
    history = fit(model, mc.NLLLoss(), _sgd(model), x, y, epochs=3, batch_size=64, seed=0,
                  validation=(mnist[0][300:400], mnist[1][300:400]), progress=False,
                  callbacks=[lambda epoch, h: seen_by_callback.append((epoch, h.epochs))])
    assert isinstance(history, History)
    assert history.stopped is None
    assert history.epochs == 3 and history.steps == 3 * 5            # ceil(300 / 64) = 5 steps
    for name in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_second"):
        assert len(getattr(history, name)) == 3, name
    assert all(0.0 <= a <= 1.0 for a in history.train_acc + history.val_acc)
    assert all(s > 0 for s in history.seconds)
    for seconds, rate in zip(history.seconds, history.images_per_second):
        assert rate == pytest.approx(300 / seconds)
    # The epoch's train loss is the image-weighted mean of its steps' losses (4 x 64 + 44).
    weights = np.array([64, 64, 64, 64, 44])
    first = np.array(history.step_loss[:5])
    assert history.train_loss[0] == pytest.approx((first * weights).sum() / 300)
    assert seen_by_callback == [(0, 1), (1, 2), (2, 3)]
    assert model.metadata["trained"] is True
    assert model.training is False                                    # fit returns in eval mode
    assert set(vars(history)) >= {"train_loss", "val_acc", "stopped", "step_loss"}


def test_validation_lists_stay_empty_without_validation(mnist):
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), _sgd(model), mnist[0][:64], mnist[1][:64], epochs=1,
                  batch_size=64, progress=False)
    assert history.val_loss == [] and history.val_acc == [] and history.epochs == 1


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_a_huge_learning_rate_stops_with_a_message(mnist, capsys):
    x, y = mnist[0][:640], mnist[1][:640]
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), mc.SGD(model.parameters(), lr=1e6, momentum=0.9), x, y,
                  epochs=2, batch_size=64, seed=0, progress=False)
    assert history.stopped is not None
    assert "lower learning rate" in history.stopped and "epoch 1, step " in history.stopped
    assert "lower learning rate" in capsys.readouterr().err
    assert history.epochs == 0                         # the diverged epoch is not recorded
    assert all(np.isfinite(v) for v in history.step_loss)


class _NaNAt(mc.NLLLoss):
    """NLLLoss that reports NaN at one (epoch, step), both counted from 1."""

    def __init__(self, steps_per_epoch, epoch, step):
        self.calls, self.at = 0, (epoch - 1) * steps_per_epoch + step

    def forward(self, log_probs, target):
        self.calls += 1
        value = super().forward(log_probs, target)
        return float("nan") if self.calls == self.at else value


def test_the_nan_guard_names_epoch_and_step_and_keeps_the_last_good_weights(mnist):
    x, y = mnist[0][:256], mnist[1][:256]                              # 4 steps of 64
    mc.manual_seed(0)
    model = lenet()
    opt = _sgd(model)
    snapshots = []
    step = opt.step
    opt.step = lambda: (step(), snapshots.append(_weights(model)))
    history = fit(model, _NaNAt(4, epoch=2, step=3), opt, x, y, epochs=3, batch_size=64,
                  progress=False)
    assert "at epoch 2, step 3" in history.stopped and "lower learning rate" in history.stopped
    assert history.epochs == 1 and history.steps == 6                  # 4 + 2 good steps
    for a, b in zip(_weights(model), snapshots[-1]):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_finishes_the_current_step_and_keeps_the_history(mnist):
    """A real SIGINT during step 2 of epoch 2: that step completes, then fit returns."""
    x, y = mnist[0][:256], mnist[1][:256]
    mc.manual_seed(0)
    model = lenet()
    opt = _sgd(model)
    step = opt.step
    after_step = []

    def step_then_ctrl_c():
        if len(after_step) == 5:                       # the 6th step: epoch 2, step 2
            os.kill(os.getpid(), signal.SIGINT)        # arrives while this step is in flight
        step()
        after_step.append(_weights(model))

    opt.step = step_then_ctrl_c
    handler_before = signal.getsignal(signal.SIGINT)
    history = fit(model, mc.NLLLoss(), opt, x, y, epochs=5, batch_size=64, progress=False)
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert "Ctrl-C" in history.stopped and "epoch 2" in history.stopped
    assert history.steps == 6 and history.epochs == 1
    for a, b in zip(_weights(model), after_step[-1]):  # the weights after the completed step
        np.testing.assert_array_equal(a, b)
    assert model.metadata["trained"] is True


@pytest.mark.parametrize("where", ["callback", "forward"])
def test_a_keyboard_interrupt_from_anywhere_returns_the_history(mnist, where):
    x, y = mnist[0][:128], mnist[1][:128]
    mc.manual_seed(0)
    model = lenet()
    callbacks = []
    if where == "callback":
        def interrupt(epoch, history):
            if epoch == 1:
                raise KeyboardInterrupt
        callbacks = [interrupt]
    else:
        forward, calls = model.forward, []

        def interrupting_forward(xb):
            calls.append(1)
            if len(calls) == 5:                        # the first step of epoch 3
                raise KeyboardInterrupt
            return forward(xb)
        model.forward = interrupting_forward
    history = fit(model, mc.NLLLoss(), _sgd(model), x, y, epochs=4, batch_size=64, progress=False,
                  callbacks=callbacks)                    # fit trains the model it is given
    assert "KeyboardInterrupt" in history.stopped
    assert history.epochs == 2 and history.steps == 4


def test_a_callback_can_stop_training(mnist):
    def stop_after_first(epoch, history):
        history.stopped = "enough"
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), _sgd(model), mnist[0][:64], mnist[1][:64], epochs=5,
                  batch_size=32, progress=False, callbacks=[stop_after_first])
    assert history.stopped == "enough" and history.epochs == 1


def test_fit_without_tqdm_prints_one_line_per_epoch(mnist, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)      # import tqdm.auto -> ImportError
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), _sgd(model), mnist[0][:64], mnist[1][:64], epochs=2,
                  batch_size=32, validation=(mnist[0][64:114], mnist[1][64:114]))
    out = capsys.readouterr().out
    assert history.epochs == 2
    assert "epoch 1/2: train loss" in out and "epoch 2/2: train loss" in out and "val acc" in out


def test_fit_with_tqdm_shows_a_bar(mnist, capsys):
    pytest.importorskip("tqdm")
    mc.manual_seed(0)
    model = lenet()
    fit(model, mc.NLLLoss(), _sgd(model), mnist[0][:64], mnist[1][:64], epochs=1, batch_size=32)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "2/2" in err and "loss=" in err and "acc=" in err


def test_the_linear_schedule_sets_the_learning_rate_every_step(mnist):
    schedule = linear_decay(0.1)
    assert schedule(0, 10) == pytest.approx(0.1) and schedule(5, 10) == pytest.approx(0.05)
    mc.manual_seed(0)
    model = lenet()
    opt = _sgd(model, lr=0.1)
    rates = []
    step = opt.step
    opt.step = lambda: (rates.append(opt.lr), step())
    fit(model, mc.NLLLoss(), opt, mnist[0][:128], mnist[1][:128], epochs=2, batch_size=64,
        progress=False, lr_schedule=schedule)
    np.testing.assert_allclose(rates, [0.1, 0.075, 0.05, 0.025])


def test_evaluate_and_predict_proba_agree(fitted, mnist, backend):
    # The batches go to the active backend, so the model goes there too (a copy: the fixture's
    # model, trained on the CPU, is shared with the other tests).
    model = copy.deepcopy(fitted[0]).to("gpu" if backend == "cupy" else "cpu")
    x, y = mnist[2][:300], mnist[3][:300]
    loss, accuracy, predictions = evaluate(model, x, y, batch_size=128)
    probs = predict_proba(model, x, batch_size=128)
    assert isinstance(probs, np.ndarray) and probs.shape == (300, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    np.testing.assert_array_equal(predictions, probs.argmax(axis=1))
    assert accuracy == pytest.approx((predictions == y).mean())
    assert loss == pytest.approx(-np.log(probs[np.arange(300), y]).mean(), rel=1e-4)
    # The batch size changes nothing; float batches give what uint8 images give.
    loss_1, _, predictions_1 = evaluate(model, x, y, batch_size=7)
    assert loss_1 == pytest.approx(loss, rel=1e-5)
    np.testing.assert_array_equal(predictions_1, predictions)
    floats = x[:, None].astype(np.float32) / 255                        # (N, 1, 28, 28)
    np.testing.assert_allclose(predict_proba(model, floats), probs, atol=1e-6)


def test_evaluate_uses_eval_mode_and_restores_the_mode(mnist):
    mc.manual_seed(0)
    model = mc.Sequential(mc.Flatten(), mc.Dropout(0.9), mc.Linear(784, 10), mc.LogSoftmax(dim=1))
    model.train()
    x = mnist[2][:50]
    first, second = predict_proba(model, x), predict_proba(model, x)
    np.testing.assert_array_equal(first, second)        # dropout would make these differ
    assert model.training is True


def test_predict_proba_of_a_model_without_log_softmax(mnist):
    mc.manual_seed(0)
    model = mc.Sequential(mc.Flatten(), mc.Linear(784, 10))               # raw scores
    probs = predict_proba(model, mnist[2][:20])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    scores = mc.to_numpy(model.forward(mc.asarray(mnist[2][:20, None].astype(np.float32) / 255)))
    np.testing.assert_array_equal(probs.argmax(axis=1), scores.argmax(axis=1))


def _nan_at(x, i, value=np.nan):
    """``x`` as floats in [0, 1] with one non-finite pixel in image ``i``."""
    x = x.astype(np.float32) / 255
    x[i, 14, 14] = value
    return x


@pytest.mark.parametrize("call, message", [
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y[:10], 1, 8), "20 images but 10 labels"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y, -1, 8), "epochs must be an integer >= 0"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y, 1, 0), "batch_size must be an integer >= 1"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y.astype(float), 1, 8), "integer class labels"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y, 1, 8, validation=x), "validation=(x_val"),
    (lambda m, x, y: evaluate(m, x[0], y), "images x of shape (N, H, W)"),
    (lambda m, x, y: evaluate(m, x[:0], y[:0]), "no images"),
    (lambda m, x, y: evaluate(m, x, y + 10), "but the model has 10 classes (labels 0..9)"),
    (lambda m, x, y: evaluate(m, x, y - 1), "evaluate: label y[1] is -1; class labels count from 0"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y + 10, 1, 8), "fit: label y[4] is 19, but"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y, 1, 8, validation=(x, y - 1)),
     "fit validation: label y_val[1] is -1"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), _nan_at(x, 7), y, 1, 8),
     "fit: the images x hold NaN or infinite pixels (image 7 is the first of 1)"),
    (lambda m, x, y: fit(m, mc.NLLLoss(), _sgd(m), x, y, 1, 8, validation=(_nan_at(x, 3, np.inf), y)),
     "fit validation: the images x_val hold NaN or infinite pixels (image 3 is the first of 1)"),
    (lambda m, x, y: evaluate(m, np.full((20, 28, 28), np.nan, np.float32), y),
     "evaluate: the images x hold NaN or infinite pixels (image 0 is the first of 20)"),
    (lambda m, x, y: predict_proba(m, _nan_at(x, 2)), "predict_proba: the images x hold NaN"),
    (lambda m, x, y: predict_proba(m, x[:0]), "no images"),
])
def test_bad_input_gives_one_clear_error(mnist, call, message):
    model = lenet()
    with pytest.raises(ValueError) as info:
        call(model, mnist[0][:20], mnist[1][:20])
    assert message in str(info.value)


# -- resuming: an interrupted run, continued, ends where an uninterrupted one does ---------

def test_a_float64_model_trains_evaluates_and_predicts_in_float64(mnist):
    """fit, evaluate and predict_proba hand the model batches of its own dtype, as its layers require."""
    from minicnn.viz.probe import predict_image
    x, y = mnist[0][:64], mnist[1][:64]
    model = lenet().double()
    seen = []
    forward = model.forward
    model.forward = lambda xb: (seen.append(xb.dtype), forward(xb))[1]
    fit(model, mc.NLLLoss(), _sgd(model), x, y, epochs=1, batch_size=32, progress=False)
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    assert evaluate(model, x, y)[1] >= 0 and predict_proba(model, x).shape == (64, 10)
    assert predict_image(model, x[0]).shape == (10,)
    assert seen == [np.dtype(np.float64)] * 5      # 2 training steps; evaluate, predict_proba, predict_image


def _small_net():
    """float64, with dropout: resuming must restore minicnn's generator as well as the data's."""
    return mc.Sequential(mc.Conv2d(1, 4, 5), mc.MaxPool2d(2), mc.ReLU(), mc.Flatten(),
                         mc.Dropout(0.3), mc.Linear(4 * 12 * 12, 10), mc.LogSoftmax(dim=1)).double()


def _run(mnist, seed, optimizer_state=None, weights=None, resume=None, interrupt_at=None):
    """fit for 3 epochs of 7 steps: momentum, the linear schedule, augmentation, validation.
    ``interrupt_at``: a real SIGINT arrives during that step (counted from 1)."""
    from minicnn.data import RandomAffine
    x, y = mnist[0][:200], mnist[1][:200]
    model = _small_net()
    if weights is not None:
        model.load_state_dict(weights)
    opt = mc.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if optimizer_state is not None:
        opt.load_state_dict(optimizer_state)
    if interrupt_at is not None:
        step, steps = opt.step, []

        def step_with_ctrl_c():
            steps.append(1)
            if len(steps) == interrupt_at:
                os.kill(os.getpid(), signal.SIGINT)   # handled after this step completes
            step()
        opt.step = step_with_ctrl_c
    history = fit(model, mc.NLLLoss(), opt, x, y, epochs=3, batch_size=32, seed=seed,
                  validation=(mnist[0][200:260], mnist[1][200:260]), progress=False,
                  lr_schedule=linear_decay(0.05), augment=RandomAffine(), resume=resume)
    return model, opt, history


@pytest.mark.parametrize("seed", [None, 5], ids=["minicnn's generator", "seed 5"])
@pytest.mark.parametrize("interrupt_at", [3, 7, 10])   # mid-epoch, an epoch's last step, epoch 2
def test_an_interrupted_and_resumed_run_ends_with_the_same_weights(mnist, seed, interrupt_at):
    import json
    mc.manual_seed(0)
    uninterrupted, _, whole = _run(mnist, seed)

    mc.manual_seed(0)
    model, opt, stopped = _run(mnist, seed, interrupt_at=interrupt_at)
    assert "Ctrl-C" in stopped.stopped and stopped.steps == interrupt_at
    # What minicnn train writes to a file: plain JSON and arrays, nothing pickled.
    state = stopped.state_dict()
    order = state["position"].pop("order")
    state = json.loads(json.dumps(state))
    state["position"]["order"] = None if order is None else np.array(order)
    weights = {k: mc.to_numpy(v) for k, v in model.state_dict().items()}
    optimizer_state = opt.state_dict()

    mc.manual_seed(123)                        # a new process: every generator elsewhere
    resumed, _, rest = _run(mnist, seed, optimizer_state, weights, resume=state)
    assert rest.stopped is None and rest.steps == whole.steps == 21
    assert rest.step_loss == whole.step_loss
    assert rest.val_acc == whole.val_acc and len(rest.train_loss) == 3
    for a, b in zip(_weights(resumed), _weights(uninterrupted)):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)


def test_a_second_ctrl_c_mid_step_leaves_no_position_to_resume_from(mnist):
    mc.manual_seed(0)
    model = lenet()
    opt = _sgd(model)
    step, steps = opt.step, []

    def step_interrupted():
        steps.append(1)
        if len(steps) == 3:
            raise KeyboardInterrupt            # as a second Ctrl-C would, inside the update
        step()
    opt.step = step_interrupted
    history = fit(model, mc.NLLLoss(), opt, mnist[0][:256], mnist[1][:256], epochs=1,
                  batch_size=64, progress=False)
    assert "KeyboardInterrupt" in history.stopped and history.position is None


@pytest.mark.parametrize("lr", [10.0, 100.0])
def test_training_at_chance_says_so_and_names_the_learning_rate(mnist, capsys, lr):
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), mc.SGD(model.parameters(), lr=lr, momentum=0.9),
                  mnist[0][:960], mnist[1][:960], epochs=1, batch_size=16, seed=0,
                  validation=(mnist[0][960:1160], mnist[1][960:1160]), progress=False,
                  lr_schedule=linear_decay(lr))   # 60 steps: past CHANCE_MIN_STEPS
    err = capsys.readouterr().err
    if history.stopped:                        # the loss became NaN: that is said already
        assert "lower learning rate" in err
        return
    assert history.warning and f"lr was {lr:g}" in history.warning
    assert f"minicnn.train.fit: warning: {history.warning}" in err
    assert "not learning" in history.warning or "diverging" in history.warning


def test_training_that_learns_gives_no_warning(fitted):
    assert fitted[1].warning is None


@pytest.mark.parametrize("change", [dict(step=99), dict(epoch=7), dict(sums=[0]),
                                    dict(generators={"loader": None}), dict(step=1, order=np.zeros(64, int)),
                                    dict(step=1, order=np.r_[np.arange(63), 10**6])])
def test_resuming_from_a_position_that_does_not_fit_is_one_sentence(mnist, change):
    mc.manual_seed(0)
    model = lenet()
    history = fit(model, mc.NLLLoss(), _sgd(model), mnist[0][:64], mnist[1][:64], epochs=1,
                  batch_size=32, progress=False)
    state = history.state_dict()
    state["position"] = dict(state["position"], **change)
    with pytest.raises(ValueError, match="fit cannot resume from this position"):
        fit(model, mc.NLLLoss(), _sgd(model), mnist[0][:64], mnist[1][:64], epochs=1,
            batch_size=32, progress=False, resume=state)
