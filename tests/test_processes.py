"""Batch chunks in worker processes (minicnn/processes.py): forked once, forked again when the layers
change, errors and vanished workers reported in one sentence, nothing left behind.

The numbers themselves (the same as one whole batch) are checked for both engines in test_threads.py.
"""
import copy
import gc
import os
import pickle
import signal
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import processes, threads
from minicnn.models import convnet, lenet

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux only"),
    pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed"),
]


@pytest.fixture(autouse=True)
def two_process_chunks():
    before = threads._num_threads, threads._engine
    mc.set_num_threads(2)
    mc.set_chunk_engine("processes")
    yield
    threads._num_threads, threads._engine = before


def batch(n=64, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float64).astype(dtype)


worker_pids = processes.worker_pids


def test_the_chunk_runs_in_a_worker_that_is_kept_between_steps():
    model = lenet()
    x = batch()
    model.forward(x)
    bounds, stacks, in_workers = model._chunks
    assert in_workers is not None and len(bounds) == 2
    assert len(stacks[0]) == len(model)                   # the whole of lenet runs split
    pids = worker_pids(model)
    assert len(pids) == 1 and pids[0] != os.getpid()
    model.backward(np.ones((64, 10), np.float32))
    model.forward(x)
    assert worker_pids(model) == pids                    # the same worker, step after step


def test_dropout_and_what_follows_it_stay_in_the_main_process():
    model = convnet().train()
    model.forward(batch())
    _, stacks, in_workers = model._chunks
    assert in_workers is not None
    assert [type(layer).__name__ for _, layer in stacks[0]][-1] == "Flatten"


@pytest.mark.parametrize("change", ["dtype", "layer", "order", "eval"])
def test_a_worker_is_forked_again_only_when_the_layers_change(change):
    model = lenet()
    x = batch()
    expected_before = model.forward(x)
    pids = worker_pids(model)
    if change == "dtype":
        model.double()
        x = x.astype(np.float64)
    elif change == "layer":
        model.layers[7] = mc.Linear(24 * 4 * 4, 50)
    elif change == "order":
        model.pool_before_relu = False
    else:
        model.eval()                                     # the mode travels with each step: no new fork
    out = model.forward(x)
    assert (worker_pids(model) == pids) == (change == "eval")
    reference = copy.deepcopy(model)
    mc.set_num_threads(1)
    np.testing.assert_allclose(out, reference.forward(x), rtol=1e-5, atol=1e-6)
    if change in ("eval", "order"):
        np.testing.assert_allclose(out, expected_before, rtol=1e-5, atol=1e-6)


def test_new_weights_reach_the_worker():
    model = lenet()
    x = batch()
    model.forward(x)
    other = lenet()
    other.load_state_dict({k: v + 0.01 for k, v in model.state_dict().items()})
    model.load_state_dict(other.state_dict())
    out = model.forward(x)
    mc.set_num_threads(1)
    np.testing.assert_allclose(out, other.forward(x), rtol=1e-5, atol=1e-6)


def test_an_error_in_a_worker_names_the_chunk_and_the_error(monkeypatch):
    def broken(*args):
        raise ValueError("something went wrong in the worker")
    monkeypatch.setattr(processes, "_run", broken)       # the worker is forked with this in place
    model = lenet()
    with pytest.raises(RuntimeError, match="Sequential: batch chunk 1 failed in its worker process: "
                                           "ValueError: something went wrong in the worker"):
        model.forward(batch())
    monkeypatch.undo()
    assert model.forward(batch()).shape == (64, 10)      # a fresh worker next time


def test_a_worker_that_vanished_is_replaced_or_reported():
    model = lenet()
    x = batch()
    model.forward(x)
    gone = processes._workers[model].procs[0]
    os.kill(gone.pid, signal.SIGKILL)                    # between two steps: noticed, forked again
    gone.join(5)
    assert model.forward(x).shape == (64, 10) and worker_pids(model) != [gone.pid]
    workers = processes._workers[model]
    os.kill(workers.procs[0].pid, signal.SIGKILL)        # while the main process waits for its answer
    workers.procs[0].join(5)
    with pytest.raises(RuntimeError, match=r"Sequential: the worker process of batch chunk 1 ended "
                                           r"unexpectedly \(exit code -9\); the next forward starts a new one"):
        workers.wait()
    assert model.forward(x).shape == (64, 10)


def test_ctrl_c_is_left_to_the_main_process():
    model = lenet()
    x = batch()
    model.forward(x)
    os.kill(worker_pids(model)[0], signal.SIGINT)
    model.backward(np.ones((64, 10), np.float32))
    assert model.forward(x).shape == (64, 10)
    assert processes._workers[model].procs[0].is_alive()


def test_workers_end_with_their_model_and_copies_leave_them_out():
    model = lenet()
    model.forward(batch())
    proc = processes._workers[model].procs[0]
    twin = copy.deepcopy(model)
    again = pickle.loads(pickle.dumps(model))
    for m in (twin, again):
        assert getattr(m, "_chunks", None) is None
        assert m.forward(batch()).shape == (64, 10)
    del model
    gc.collect()
    proc.join(5)
    assert not proc.is_alive()


def test_layers_of_a_learners_own_are_not_sent_to_a_worker():
    class Double(mc.ReLU):                               # a subclass may compute something else
        batch_independent = True

        def forward(self, x):
            return 2 * x

        def backward(self, grad_output):
            return 2 * grad_output

    model = mc.Sequential(mc.Conv2d(1, 2, 3), Double(), mc.Flatten())
    model.forward(batch())
    _, stacks, in_workers = model._chunks
    assert in_workers is not None and [type(layer) for _, layer in stacks[0]] == [mc.Conv2d]


def test_a_mismatched_dtype_uses_threads_instead():
    model = lenet()                                      # float32 weights
    model.forward(batch(dtype=np.float64))
    assert model._chunks[2] is None and len(model._chunks[0]) == 2


@pytest.mark.parametrize("bad", ["fork", "", None, 2])
def test_set_chunk_engine_refuses_other_names(bad):
    with pytest.raises(ValueError, match="set_chunk_engine expects 'threads' or 'processes'"):
        mc.set_chunk_engine(bad)


@pytest.mark.parametrize("text, expected", [("threads", "threads"), ("processes", "processes"),
                                            ("", "processes"), ("gpu", ValueError)])
def test_the_chunk_engine_comes_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setattr(threads, "_engine", None)
    monkeypatch.setenv("MINICNN_CHUNK_ENGINE", text)
    if expected is ValueError:
        with pytest.raises(ValueError, match="MINICNN_CHUNK_ENGINE must be 'threads' or 'processes'"):
            mc.get_chunk_engine()
    else:
        assert mc.get_chunk_engine() == expected


def test_a_failed_step_leaves_no_half_answered_worker_behind():
    model = lenet()
    model.forward(batch())
    pids = worker_pids(model)
    with pytest.raises(ValueError, match="Sequential layer 0: Conv2d expected 1 input channels"):
        model.forward(np.zeros((64, 3, 28, 28), np.float32))    # the workers were told, then chunk 0 failed
    out = model.forward(batch())
    assert worker_pids(model) != pids                    # new workers, no stale answer in a pipe
    mc.set_num_threads(1)
    np.testing.assert_allclose(out, model.forward(batch()), rtol=1e-5, atol=1e-6)


def test_without_room_in_shared_memory_the_chunks_run_on_threads(monkeypatch):
    monkeypatch.setattr(processes, "_shared_memory_free", lambda: 1000)
    model = lenet()
    model.forward(batch())
    assert model._chunks[2] is None and len(model._chunks[0]) == 2 and worker_pids(model) == []
