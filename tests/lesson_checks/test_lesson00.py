"""Lesson 00's check passes the solution and gives ✗ for the typical wrong batches."""
import numpy as np
import pytest

from minicnn_lessons import lesson00


def test_the_solution_passes_the_check(learner, verdict):
    passed, text = verdict(lesson00.check_to_batch, learner(lesson00.to_batch, "to_batch", "lesson00"))
    assert passed, text


def not_scaled(images):
    return images[:, None].astype(np.float32)


def divided_by_256(images):
    return images[:, None].astype(np.float32) / 256


def divided_by_the_largest_pixel(images):
    return images[:, None].astype(np.float32) / images.max()


def float64(images):
    return images[:, None] / 255.0


def channel_last(images):
    return images[..., None].astype(np.float32) / 255


def no_channel_axis(images):
    return images.astype(np.float32) / 255


def reshaped_for_mnist_only(images):
    return images.reshape(len(images), 1, 28, 28).astype(np.float32) / 255


def integer_division(images):
    return (images[:, None] // 255).astype(np.float32)


@pytest.mark.parametrize("wrong, says", [
    (not_scaled, "divide by 255"),
    (divided_by_256, "Yours divides by 256"),
    (divided_by_the_largest_pixel, "the batch's largest pixel"),
    (float64, "Convert to float32"),
    (channel_last, "Yours puts the channel last"),
    (no_channel_axis, "The channel axis is missing"),
    (reshaped_for_mnist_only, "failed on 3 non-square images of 5 x 7"),
    (integer_division, "is wrong for 16 images of 28 x 28"),
])
def test_wrong_batches_are_caught(learner, verdict, wrong, says):
    passed, text = verdict(lesson00.check_to_batch, learner(wrong, "to_batch", "lesson00"))
    assert not passed and says in text, text


def test_a_function_not_written_yet_is_reported_not_raised(learner, verdict):
    passed, text = verdict(lesson00.check_to_batch, learner(lambda images: None, "to_batch", "lesson00"))
    assert not passed and "returned None" in text
