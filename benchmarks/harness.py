"""The parent's side: contender processes, and timings that alternate between them.

Every contender lives in a child process of its own (child.py), started once and
driven over a pipe, one JSON line each way. While one child runs its timed block,
the others wait on their pipes, so no framework's thread pools or allocator settings
touch another's timings. Repetition 1 runs the contenders in the order A B C,
repetition 2 in C B A, and so on: a burst of load from elsewhere hits all of them,
and no place in the order is always someone's. Before each block the parent pauses,
so the previous child's idle BLAS/OpenMP threads stop spinning (OpenBLAS spins for
about 0.1 s after a call) instead of competing for the cores.
"""
import json
import math
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .contenders import BASELINES

ROOT = Path(__file__).resolve().parents[1]      # the checkout: `python -m benchmarks.child` runs here
PAUSE_SECONDS = 0.15
TARGET_BLOCK_SECONDS = 0.3      # automatic --steps: the fastest contender's block lasts at least this
MAX_AUTO_STEPS = 100
REPLY_TIMEOUT = 900             # seconds a child may take for one request (a TensorFlow trace, a big block)


class ChildError(RuntimeError):
    """A contender process failed; the message names it and ends with its last error line."""


class Child:
    """One contender in a process of its own: ``ask(op, **arguments)`` -> the reply's dict.

    ``minicnn_path`` makes the child import minicnn from that checkout (--baseline).
    Its stderr goes to a log file, whose last line explains a failure.
    """

    def __init__(self, name, minicnn_path=None):
        self.name = name
        self.log = tempfile.TemporaryFile(mode="w+")
        command = [sys.executable, "-m", "benchmarks.child", name]
        env = dict(os.environ)
        if minicnn_path:
            command += ["--minicnn-path", str(minicnn_path)]
            env["PYTHONPATH"] = os.pathsep.join([str(minicnn_path), str(ROOT)])
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        self.hello = None

    def greet(self):
        """The child's first line: {"pid", "device", "info"}, or {"skip": reason}."""
        if self.hello is None:
            self.hello = self._read()
        return self.hello

    def send(self, op, **arguments):
        try:
            self.proc.stdin.write(json.dumps(dict(op=op, **arguments)) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._failure(f"stopped before it was asked to {op}") from None

    def receive(self):
        reply = self._read()
        if "error" in reply:
            raise ChildError(f"contender {self.name} failed: {reply['error']}")
        return reply

    def ask(self, op, **arguments):
        self.send(op, **arguments)
        return self.receive()

    def _read(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], REPLY_TIMEOUT)
        line = self.proc.stdout.readline() if ready else None
        if line is None:
            raise self._failure(f"did not answer within {REPLY_TIMEOUT} s")
        if not line:
            raise self._failure("ended unexpectedly")
        return json.loads(line)

    def _failure(self, what):
        self.close()
        self.log.seek(0)
        lines = [line for line in self.log.read().splitlines() if line.strip()]
        return ChildError(f"contender {self.name} {what}: {lines[-1] if lines else '(no error output)'}")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps(dict(op="quit")) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def start(names, baseline=None):
    """Start one child per name (all at once: their imports overlap); return (children, skipped)."""
    pending = {n: Child(n, baseline if n in BASELINES else None) for n in names}
    children, skipped = {}, {}
    for name, child in pending.items():
        try:
            hello = child.greet()
        except ChildError as e:
            skipped[name] = str(e)
            continue
        if "skip" in hello:
            skipped[name] = hello["skip"]
            child.close()
        else:
            children[name] = child
    return children, skipped


def _alternating(children, rep):
    """Repetition 0: the given order; 1: reversed; 2: the given order; ..."""
    items = list(children.items())
    return items if rep % 2 == 0 else items[::-1]


def throughput(children, batch, task, repeats, steps, warmup):
    """(steps, {name: [images per second, one per repetition]}) for "train" or "infer".

    ``steps=None`` picks the count from the warm-up, so that the fastest contender's
    block lasts TARGET_BLOCK_SECONDS; every contender runs the same count.
    """
    step_seconds = {name: c.ask("prepare", task=task, warmup=warmup)["seconds"] for name, c in children.items()}
    if steps is None:
        fastest = max(min(step_seconds.values()), 1e-6)
        steps = max(1, min(MAX_AUTO_STEPS, math.ceil(TARGET_BLOCK_SECONDS / fastest)))
    runs = {name: [] for name in children}
    for rep in range(repeats):
        for name, child in _alternating(children, rep):
            time.sleep(PAUSE_SECONDS)
            runs[name].append(steps * batch / child.ask("time", task=task, steps=steps)["seconds"])
    return steps, runs


def latency(children, repeats, calls, warmup):
    """{name: [milliseconds per single-image prediction]}: ``calls`` per repetition, alternating."""
    times = {name: [] for name in children}
    for rep in range(repeats):
        for name, child in _alternating(children, rep):
            time.sleep(PAUSE_SECONDS)
            times[name] += child.ask("latency", calls=calls, warmup=warmup if rep == 0 else 0)["ms"]
    return times


def check_translation(children, network, data, steps, atol):
    """Every contender's network against the first one's: {name: {"output", "losses"}} differences.

    "output": the largest |difference| of eval-mode log-probabilities; "losses": the
    largest |difference| of the losses of ``steps`` training steps with dropout off,
    which agree only if gradients and updates do. More than ``atol`` stops the run:
    timings of different networks would not be comparable.
    """
    answers = {name: c.ask("check", network=network, data=data, steps=steps) for name, c in children.items()}
    first, reference = next(iter(answers.items()))
    diffs = {}
    for name, a in answers.items():
        diffs[name] = dict(
            output=float(np.max(np.abs(np.asarray(a["output"]) - np.asarray(reference["output"])))),
            losses=float(np.max(np.abs(np.asarray(a["losses"]) - np.asarray(reference["losses"])))))
        worst = max(diffs[name].values())
        if worst > atol:
            raise ChildError(f"contender {name} computes a different network from {first}: their "
                             f"outputs or losses differ by {worst:.3g} (at most {atol} expected), so their "
                             "timings would not be comparable")
    return diffs


def memory(names, network, data, steps, baseline=None):
    """{name: peak memory dict (memory.py)}, each contender alone in a fresh process.

    The processes run at the same time: a peak of one process does not depend on the others.
    """
    children, skipped = start(names, baseline)
    results = {name: dict(error=why) for name, why in skipped.items()}
    for child in children.values():
        child.send("memory", network=network, data=data, steps=steps)
    for name, child in children.items():
        try:
            results[name] = child.receive()
        except ChildError as e:
            results[name] = dict(error=str(e))
        child.close()
    return results
