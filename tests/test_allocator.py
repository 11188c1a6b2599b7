"""minicnn/allocator.py: training keeps freed memory, from the first SGD or DataParallel forward on.

Each behaviour runs in a fresh process (the setting is the whole process's, for good), which
frees 32 MiB of arrays three times over: glibc hands that memory back to the operating
system unless the setting is made, and then the next round page-faults all of it in again.
"""
import os
import platform
import subprocess
import sys

import pytest

from minicnn import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="the allocator setting applies to Linux with glibc only")

ROUNDS = r"""
import resource, sys, warnings
import numpy as np
import minicnn as mc
from minicnn import allocator
from minicnn.models import lenet
warnings.simplefilter("error")                 # a warning from disable() fails the run
what = sys.argv[1]
if what == "disable, then SGD":
    allocator.disable()
if what in ("SGD", "disable, then SGD"):
    mc.SGD(lenet().parameters(), lr=0.01, momentum=0.9)
elif what == "DataParallel forward":
    mc.DataParallel(lenet()).forward(np.zeros((2, 1, 28, 28), np.float32))
elif what == "import":
    lenet()

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

start, faults = rss_mib(), []
for _ in range(3):                             # what each training step does: 32 MiB used, then freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones((8 << 20) // 4, dtype=np.float32) for _ in range(4)]
    del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(allocator.applied(), rss_mib() - start, faults[-1])
"""


def run_rounds(what, **env):
    """(setting applied, MiB still resident after the rounds, page faults of the last round)."""
    out = subprocess.run([sys.executable, "-c", ROUNDS, what], capture_output=True, text=True, check=True,
                         timeout=120, env={**os.environ, **env}).stdout.split()
    return out[0] == "True", float(out[1]), int(out[2])


@needs_glibc
@pytest.mark.parametrize("what", ["SGD", "DataParallel forward"])
def test_training_starts_keeping_freed_memory(what):
    applied, kept_mib, faults = run_rounds(what, MINICNN_KEEP_FREED_MEMORY="")
    assert applied
    assert kept_mib > 24, f"after {what}, freed arrays went back to the system ({kept_mib:.0f} MiB kept)"
    assert faults < 100, f"after {what}, reusing freed memory still page-faulted {faults} times"


@needs_glibc
@pytest.mark.parametrize("what, env", [
    ("import", {}),                                              # import minicnn, build a model: no change
    ("SGD", {"MINICNN_KEEP_FREED_MEMORY": "0"}),                 # the opt-outs
    ("disable, then SGD", {}),
])
def test_importing_and_opting_out_leave_the_allocator_alone(what, env):
    applied, kept_mib, faults = run_rounds(what, **{"MINICNN_KEEP_FREED_MEMORY": "", **env})
    assert not applied
    assert kept_mib < 8, f"{what} {env}: {kept_mib:.0f} MiB of freed arrays stayed resident"
    assert faults > 1000, f"{what} {env}: freed memory was reused ({faults} page faults)"


@pytest.fixture
def fresh(monkeypatch):
    """The allocator module as in a process that has not trained yet (the test process has)."""
    monkeypatch.setattr(allocator, "_kept", None)
    monkeypatch.delenv("MINICNN_KEEP_FREED_MEMORY", raising=False)
    return allocator


@pytest.mark.parametrize("where", ["not Linux", "not glibc"])
def test_nothing_happens_off_glibc(fresh, monkeypatch, where):
    def no_glibc(name):
        raise OSError(f"{name}: cannot open shared object file")
    if where == "not Linux":
        monkeypatch.setattr(allocator.sys, "platform", "darwin")
    monkeypatch.setattr(allocator.ctypes, "CDLL", no_glibc)     # musl has no libc.so.6
    assert fresh.on_first_training() is False and not fresh.applied()
    assert fresh.keep_freed_memory() is False


def test_the_hook_decides_once_and_disable_after_it_warns(fresh, monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "_mallopt", lambda: calls.append(1) or True)
    assert fresh.on_first_training() and fresh.on_first_training() and fresh.applied()
    assert calls == [1], "the setting is made once, however many optimizers are created"
    with pytest.warns(UserWarning, match="came too late"):
        fresh.disable()
    assert fresh.applied()


def test_disable_and_the_environment_variable_stop_the_hook(fresh, monkeypatch):
    monkeypatch.setattr(allocator, "_mallopt", lambda: pytest.fail("the setting was made after an opt-out"))
    fresh.disable()
    assert fresh.on_first_training() is False
    monkeypatch.setattr(allocator, "_kept", None)
    monkeypatch.setenv("MINICNN_KEEP_FREED_MEMORY", "0")
    assert fresh.on_first_training() is False


WORKER_ALLOCATES = r"""
import resource, sys, threading
import numpy as np
from minicnn.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory() is True
faults = []
def work():  # what a chunk thread does each step: many megabytes allocated, then freed
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones((3 << 20) // 4, dtype=np.float32) for _ in range(40)]  # 40 x 3 MiB at once
        del arrays
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
t = threading.Thread(target=work)
t.start()
t.join()
print(faults[0], faults[1])
"""


@needs_glibc
def test_keep_freed_memory_lets_a_worker_thread_reuse_what_it_freed():
    """After the call, a thread's second round of allocations page-faults (almost) nothing."""
    out = subprocess.run([sys.executable, "-c", WORKER_ALLOCATES, "keep"], capture_output=True, text=True,
                         check=True, timeout=120)
    first, second = map(int, out.stdout.split())
    assert first > 10_000                  # 120 MiB touched for the first time
    assert second < first // 100, (first, second)
