"""Lesson 06's check passes the solution and gives ✗ for the typical wrong training steps; the saved
model's helpers find the file lessons 07-09 read."""
import pytest

from minicnn_lessons import lesson06


def test_the_solution_passes_the_check(learner, verdict):
    passed, text = verdict(lesson06.check_train_step, learner(lesson06.train_step, "train_step", "lesson06"))
    assert passed, text
    assert text.count("✓") == 3 and "note" not in text


# ---- wrong training steps --------------------------------------------------------------------------


def without_zero_grad(model, loss_fn, optimizer, xb, yb):
    """The issue's case: gradients accumulate, so the second step follows g1 + g2."""
    loss = loss_fn.forward(model.forward(xb), yb)
    model.backward(loss_fn.backward(), input_grad=False)
    optimizer.step()
    return loss


def zero_grad_at_the_end(model, loss_fn, optimizer, xb, yb):
    loss = loss_fn.forward(model.forward(xb), yb)
    model.backward(loss_fn.backward(), input_grad=False)
    optimizer.step()
    optimizer.zero_grad()
    return loss


def without_step(model, loss_fn, optimizer, xb, yb):
    optimizer.zero_grad()
    loss = loss_fn.forward(model.forward(xb), yb)
    model.backward(loss_fn.backward(), input_grad=False)
    return loss


def step_before_backward(model, loss_fn, optimizer, xb, yb):
    optimizer.zero_grad()
    loss = loss_fn.forward(model.forward(xb), yb)
    optimizer.step()
    model.backward(loss_fn.backward(), input_grad=False)
    return loss


def zero_grad_between_backward_and_step(model, loss_fn, optimizer, xb, yb):
    loss = loss_fn.forward(model.forward(xb), yb)
    model.backward(loss_fn.backward(), input_grad=False)
    optimizer.zero_grad()
    optimizer.step()
    return loss


def two_steps(model, loss_fn, optimizer, xb, yb):
    optimizer.zero_grad()
    loss = loss_fn.forward(model.forward(xb), yb)
    model.backward(loss_fn.backward(), input_grad=False)
    optimizer.step()
    optimizer.step()
    return loss


def returns_the_loss_after_the_step(model, loss_fn, optimizer, xb, yb):
    lesson06.train_step(model, loss_fn, optimizer, xb, yb)
    return loss_fn.forward(model.forward(xb), yb)


def returns_the_scores(model, loss_fn, optimizer, xb, yb):
    optimizer.zero_grad()
    scores = model.forward(xb)
    loss_fn.forward(scores, yb)
    model.backward(loss_fn.backward(), input_grad=False)
    optimizer.step()
    return scores


def returns_the_gradient_of_the_loss(model, loss_fn, optimizer, xb, yb):
    optimizer.zero_grad()
    loss_fn.forward(model.forward(xb), yb)
    grad = loss_fn.backward()
    model.backward(grad, input_grad=False)
    optimizer.step()
    return grad


@pytest.mark.parametrize("wrong, case, says", [
    (without_zero_grad, "the second step", "nothing cleared .grad: gradients accumulate"),
    (zero_grad_at_the_end, "stale gradients", "zero_grad() ran only after the step"),
    (without_step, "the first step", "optimizer.step() never ran"),
    (step_before_backward, "the first step", "optimizer.step() ran before model.backward"),
    (zero_grad_between_backward_and_step, "the first step", "threw away the gradients"),
    (two_steps, "the first step", "optimizer.step() ran 2 times"),
    (returns_the_loss_after_the_step, "the first step", "that is the loss after the step"),
    (returns_the_scores, "the first step", "returned an array of shape (6, 4)"),
    (returns_the_gradient_of_the_loss, "the first step", "return the batch's loss"),
])
def test_wrong_training_steps_are_caught(learner, verdict, wrong, case, says):
    passed, text = verdict(lesson06.check_train_step, learner(wrong, "train_step", "lesson06"))
    assert not passed, text
    failed = [line for line in text.splitlines() if line.startswith("✗")]
    assert len(failed) == 1 and case in failed[0] and says in failed[0], text


def test_a_missing_zero_grad_passes_the_first_step_and_fails_the_second(learner, verdict):
    """A single step from a fresh model cannot see it: the check needs the second step."""
    passed, text = verdict(lesson06.check_train_step, learner(without_zero_grad, "train_step", "lesson06"))
    assert "right for: the first step on a fresh model" in text


def test_input_grad_true_passes_with_a_note(learner, verdict):
    def with_input_grad(model, loss_fn, optimizer, xb, yb):
        optimizer.zero_grad()
        loss = loss_fn.forward(model(xb), yb)
        model.backward(loss_fn.backward())
        optimizer.step()
        return loss
    passed, text = verdict(lesson06.check_train_step, learner(with_input_grad, "train_step", "lesson06"))
    assert passed and "note: pass input_grad=False" in text


def test_model_zero_grad_does_as_well_as_the_optimizers(learner, verdict):
    def model_zero_grad(model, loss_fn, optimizer, xb, yb):
        model.zero_grad()
        loss = loss_fn(model(xb), yb)
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step()
        return loss
    passed, text = verdict(lesson06.check_train_step, learner(model_zero_grad, "train_step", "lesson06"))
    assert passed, text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson06.check_train_step,
                           learner(lambda *args: None, "train_step", "lesson06"))
    assert not passed


# ---- the saved model, for lessons 07-09 ------------------------------------------------------------


def test_saved_model_path_is_the_file_lessons_07_to_09_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_LESSONS_DIR", str(tmp_path))
    assert lesson06.saved_model_path(fast=False) == tmp_path / "mnist-lenet.npz"
    assert lesson06.saved_model_path(fast=True) == tmp_path / "mnist-lenet-fast.npz"
    monkeypatch.setenv("MINICNN_FAST", "1")
    assert lesson06.saved_model_path() == tmp_path / "mnist-lenet-fast.npz"


def test_trained_model_loads_the_saved_file_without_training(tmp_path, monkeypatch, capsys):
    import minicnn as mc
    from minicnn.models import lenet

    monkeypatch.setenv("MINICNN_LESSONS_DIR", str(tmp_path))
    mc.manual_seed(3)
    model = lenet()
    model.save(tmp_path / "mnist-lenet.npz", metadata=dict(model="lenet", test_accuracy=0.5))
    loaded = lesson06.trained_model(fast=False)
    assert loaded.metadata["test_accuracy"] == 0.5
    assert all((a.data == b.data).all() for a, b in zip(model.parameters(), loaded.parameters()))
    assert "training it now" not in capsys.readouterr().out
