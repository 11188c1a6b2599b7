"""The lessons' checks must catch the mistakes they teach: each test file here feeds one lesson's
check functions the solution (which must pass) and typical wrong answers (which must get ✗).

A check is ``check_<exercise>(fn)`` in ``minicnn_lessons/lessonNN.py``: it calls ``fn`` on its own
cases, prints ✓ or ✗ and returns True or False. The ``learner`` fixture, ``learner(fn, name, lesson)``,
makes a plain function look like a learner's written exercise, so a wrong one prints ✗ instead of
raising (a failing *solution* raises: that is a bug in the lessons).

    def test_a_max_pool_that_feeds_every_tied_maximum_is_caught(learner, verdict):
        passed, text = verdict(lesson02.check_maxpool2d_backward,
                               learner(every_tied_max, "maxpool2d_backward", "lesson02"))
        assert not passed and "tie" in text
"""
import functools

import pytest


def as_learners(fn, name, lesson):
    """``fn`` dressed as the learner's version of exercise ``name`` of ``lesson`` ("lesson02")."""
    @functools.wraps(fn)
    def yours(*args, **kwargs):
        return fn(*args, **kwargs)
    yours.__name__, yours.used_solution, yours.lesson = name, False, lesson
    return yours


@pytest.fixture
def learner():
    return as_learners


@pytest.fixture
def verdict(capsys):
    """verdict(check, fn) -> (passed, printed text) of one check on one version."""
    def run(check, fn):
        passed = check(fn)
        text = capsys.readouterr().out
        assert passed in (True, False), f"{check.__name__} must return True or False, returned {passed!r}"
        assert ("✓" in text) == passed and ("✗" in text) == (not passed), text
        return passed, text
    return run
