"""examples/your_layer/ as a learner and a teacher run it: pytest in a subprocess, read its exit status and output.

The correct layers (my_layers.py) pass the learner's and the teacher's test files; each planted
bug in buggy_layers.py fails with a first line that names the check and the tensor.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "your_layer"


def pytest_in_the_example(*files, student=None):
    """Run pytest on the example's files from its folder, writing nothing there: (exit status, output)."""
    path = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONDONTWRITEBYTECODE="1")
    if student:
        env["STUDENT_LAYERS"] = student
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider", *files],
                          cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_the_correct_layers_pass_the_learners_and_the_teachers_tests():
    before = sorted(p.name for p in EXAMPLE.iterdir())
    status, out = pytest_in_the_example("test_my_layers.py", "test_student_layer.py")
    assert status == 0, out
    assert "8 passed" in out, out
    assert sorted(p.name for p in EXAMPLE.iterdir()) == before, "running the examples wrote into the repository"


def test_each_planted_bug_fails_with_a_message_naming_the_check_and_the_tensor():
    status, out = pytest_in_the_example("test_buggy_layers.py", "test_student_layer.py", student="buggy_layers")
    assert status == 1, out                                 # 1: some tests failed (not an error in pytest)
    assert "9 failed" in out and "passed" not in out.splitlines()[-1], out
    messages = [line for line in out.splitlines() if line.startswith("E   AssertionError: check_layer(")]
    expected = {
        "wrong slope": "E   AssertionError: check_layer(LeakyReLU): gradients FAILED for input at index "
                       "(0, 1, 2, 0): backward gave 0, central differences",
        "no batch sum": "E   AssertionError: check_layer(ChannelScale): gradients FAILED for weight: "
                        "ChannelScale.backward raised ValueError at buggy_layers.py:",
        "overwritten .grad": "E   AssertionError: check_layer(ChannelScaleOverwritingGrad): accumulation FAILED "
                             "for weight: after two backward passes without zero_grad, weight.grad holds only "
                             "the second pass's gradient: backward overwrites .grad; write "
                             "self.weight.accumulate(...) instead of assigning self.weight.grad",
    }
    for bug, start in expected.items():
        assert any(m.startswith(start) for m in messages), f"{bug}: no message starts with {start!r}\n{out}"
    assert sum("(self.weight.accumulate(dw)): a gradient of shape" in m for m in messages) == 3, out
    assert sum("check_layer(LeakyReLU): gradients FAILED for input" in m for m in messages) == 5, out
    assert len(messages) == 9, out

