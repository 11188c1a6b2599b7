"""A teacher's grading file for the LeakyReLU and ChannelScale assignment.

Hand it out with the assignment, or keep it and run it on each submission:

    pytest --tb=short test_student_layer.py                                # grades my_layers.py
    STUDENT_LAYERS=buggy_layers pytest --tb=short test_student_layer.py    # grades buggy_layers.py

Each failing test prints one line saying which check failed, for which tensor, where, and the
two values that differ; the number of passed tests is the grade.
"""
import importlib
import os

import pytest

from minicnn.testing import check_layer

student = importlib.import_module(os.environ.get("STUDENT_LAYERS", "my_layers"))


def channel_scale(x, weight):
    """The teacher's own forward of ChannelScale, to compare the student's against."""
    return x * weight[None, :, None, None]


@pytest.mark.parametrize("slope", [0.01, 0.2])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 4)], ids=["4x5", "2x3x4x4"])
def test_leaky_relu(shape, slope):
    check_layer(student.LeakyReLU(slope), shape, torch_module=lambda nn: nn.LeakyReLU(slope))


@pytest.mark.parametrize("channels, shape", [(1, (3, 1, 2, 2)), (3, (2, 3, 4, 5))],
                         ids=["1-channel", "3-channels"])
def test_channel_scale(channels, shape):
    check_layer(student.ChannelScale(channels), shape, reference=channel_scale)
