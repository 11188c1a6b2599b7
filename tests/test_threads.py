"""Batch chunks on CPU threads or in worker processes (minicnn/threads.py, minicnn/processes.py):
the same numbers as one big batch, clear errors."""
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import threads
from minicnn.models import convnet, lenet


@pytest.fixture(params=["threads", "processes"])
def num_threads(request, monkeypatch):
    """Set the thread count inside a test, once with each chunk engine; the previous values come back.

    MIN_CHUNK is lowered to 16 so that the small batches of these tests are split
    (the real threshold is a speed choice, measured by benchmarks/chunks.py).
    """
    if request.param == "processes" and not sys.platform.startswith("linux"):
        pytest.skip("chunks run in worker processes only on Linux")
    before = threads._num_threads, threads._engine
    monkeypatch.setattr(threads, "MIN_CHUNK", 16)
    mc.set_chunk_engine(request.param)
    yield mc.set_num_threads
    threads._num_threads, threads._engine = before


def mixed_model():
    """Batch-independent layers, then Dropout (random, so not split), then more layers."""
    return mc.Sequential(
        mc.Conv2d(1, 4, 3, padding=1), mc.ReLU(), mc.MaxPool2d(3, stride=2, padding=1),  # (N, 4, 4, 4)
        mc.Conv2d(4, 3, 2), mc.AvgPool2d(2, stride=1),                                  # (N, 3, 2, 2)
        mc.Flatten(), mc.Dropout(0.3), mc.Linear(12, 5), mc.LogSoftmax(dim=1))          # (N, 5)


def one_step(model, x, y, n_threads, num_threads, seed=3):
    """Forward, NLL loss, backward with the given thread count: (output, input grad, param grads)."""
    num_threads(n_threads)
    mc.manual_seed(seed)                                  # the same dropout mask both times
    out = model.forward(x)
    loss = mc.NLLLoss()
    loss.forward(out, y)
    dx = model.backward(loss.backward())
    return out, dx, [p.grad.copy() for p in model.parameters()]


@pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed")
@pytest.mark.parametrize("make, shape, n", [(lenet, (1, 28, 28), 64), (convnet, (1, 28, 28), 48),
                                            (mixed_model, (1, 8, 8), 50)])
@pytest.mark.parametrize("chunks", [2, 3])
def test_chunks_give_the_numbers_of_one_batch(make, shape, n, chunks, num_threads):
    mc.manual_seed(0)
    model = make().double().train()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n,) + shape)
    y = rng.integers(0, model.layers[-2].out_features, n)
    out1, dx1, grads1 = one_step(model, x, y, 1, num_threads)
    assert model._chunks is None
    out2, dx2, grads2 = one_step(model, x, y, chunks, num_threads)
    bounds, stacks, _ = model._chunks                    # it really was split
    assert len(bounds) == chunks and bounds[0][0] == 0 and bounds[-1][1] == n
    assert 0 < len(stacks[0]) <= model._split_depth()    # processes stop before Dropout
    np.testing.assert_allclose(out2, out1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx2, dx1, rtol=1e-12, atol=1e-13)
    for g2, g1 in zip(grads2, grads1):
        np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-13)


class Scale(mc.Module):
    """A learner's own layer: not marked batch_independent, so it ends the chunked part."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output


def test_split_depth_stops_at_the_first_layer_not_marked_independent():
    assert mixed_model()._split_depth() == len(mixed_model())   # Dropout included: it shares its draw
    assert lenet()._split_depth() == len(lenet())
    model = mc.Sequential(mc.Conv2d(1, 2, 3), Scale(), mc.ReLU())
    assert model._split_depth() == 1
    assert mc.Sequential(Scale(), mc.ReLU())._split_depth() == 0


@pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed")
def test_a_layer_of_its_own_runs_on_the_whole_batch(num_threads):
    model = mc.Sequential(mc.Conv2d(1, 2, 3), Scale(), mc.ReLU(), mc.Flatten())
    x = np.random.default_rng(0).standard_normal((40, 1, 5, 5))
    num_threads(1)
    expected = model.forward(x)
    num_threads(2)
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-12)
    assert len(model._chunks[1][0]) == 1                     # only the Conv2d ran in chunks
    dx = model.backward(np.ones_like(expected))
    assert dx.shape == x.shape


@pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed")
def test_dropout_draws_once_for_the_batch_and_forgets_it(num_threads):
    num_threads(2)
    model = mc.Sequential(mc.Flatten(), mc.Dropout(0.5), mc.Dropout(0.5)).train()
    x = np.ones((64, 3, 2, 2), np.float32)
    mc.manual_seed(5)
    split = model.forward(x)
    assert model._chunks is not None
    assert not any("chunk_draw" in vars(layer) for layer in model.layers)
    num_threads(1)
    mc.manual_seed(5)
    np.testing.assert_array_equal(model.forward(x), split)   # the same masks, the same stream
    assert np.mean(split == 0) > 0.6                         # both dropouts really dropped


@pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed")
def test_training_with_chunks_matches_one_thread(num_threads):
    """Three SGD steps: weights after chunked steps equal those after whole-batch steps."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 1, 28, 28)), rng.integers(0, 10, 40)
    weights = []
    for n_threads in (1, 2):
        num_threads(n_threads)
        mc.manual_seed(0)
        model = lenet().double()
        opt = mc.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss = mc.NLLLoss()
        for _ in range(3):
            opt.zero_grad()
            loss.forward(model.forward(x), y)
            model.backward(loss.backward(), input_grad=False)
            opt.step()
        weights.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed")
@pytest.mark.parametrize("with_dropout", [False, True])
def test_gradcheck_through_a_split_model(num_threads, with_dropout):
    num_threads(2)
    mc.manual_seed(0)
    if with_dropout:
        model, x = mixed_model().train(), np.random.default_rng(0).standard_normal((40, 1, 8, 8))
    else:
        model = mc.Sequential(mc.Conv2d(2, 3, 3), mc.ReLU(), mc.MaxPool2d(2), mc.Flatten(), mc.Linear(12, 4))
        x = np.random.default_rng(0).standard_normal((32, 2, 6, 6))
    assert len(threads.chunk_bounds(len(x))) == 2         # gradcheck's copy of the model runs split
    result = mc.gradcheck(model, x)
    assert result.ok, result


def test_the_real_threshold_keeps_small_batches_whole():
    assert threads.MIN_CHUNK >= 16
    assert len(threads.chunk_bounds(2 * threads.MIN_CHUNK - 1)) == 1


def test_small_batches_and_one_thread_are_not_split(num_threads):
    num_threads(2)
    assert threads.chunk_bounds(threads.MIN_CHUNK * 2 - 1) == [(0, threads.MIN_CHUNK * 2 - 1)]
    num_threads(1)
    assert threads.chunk_bounds(256) == [(0, 256)]
    num_threads(4)
    if threads._blas_controller() is not None:
        assert threads.chunk_bounds(70) == [(0, 17), (17, 35), (35, 52), (52, 70)]
    model = lenet()
    model.forward(np.zeros((1, 1, 28, 28), np.float32))   # one image: the drawing pad's case
    assert model._chunks is None


def test_without_threadpoolctl_nothing_is_split(num_threads, monkeypatch):
    monkeypatch.setattr(threads, "_blas", False)          # as if the import had failed
    num_threads(2)
    assert threads.chunk_bounds(256) == [(0, 256)]
    model = lenet()
    model.forward(np.zeros((64, 1, 28, 28), np.float32))
    assert model._chunks is None


@pytest.mark.skipif(threads._blas_controller() is None, reason="threadpoolctl is not installed")
def test_a_bad_input_names_the_layer_even_when_split(num_threads):
    num_threads(2)
    model = lenet()
    with pytest.raises(ValueError, match=r"Sequential layer 0: Conv2d expected 1 input channels"):
        model.forward(np.zeros((64, 3, 28, 28), np.float32))


def test_blas_threads_come_back_after_a_split(num_threads):
    controller = threads._blas_controller()
    if controller is None:
        pytest.skip("threadpoolctl is not installed")
    before = [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]
    num_threads(2)
    model = lenet()
    model.backward(model.forward(np.ones((64, 1, 28, 28), np.float32)))
    after = [lib.num_threads for lib in threads._blas_controller().select(user_api="blas").lib_controllers]
    assert after == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="set_num_threads expects a whole number >= 1"):
        mc.set_num_threads(bad)


@pytest.mark.parametrize("text, expected", [("3", 3), ("", None), ("zero", ValueError), ("0", ValueError)])
def test_num_threads_from_the_environment(text, expected, monkeypatch):
    monkeypatch.setattr(threads, "_num_threads", None)
    monkeypatch.setenv("MINICNN_NUM_THREADS", text)
    if expected is ValueError:
        with pytest.raises(ValueError, match="MINICNN_NUM_THREADS must be a whole number"):
            threads.get_num_threads()
    else:
        assert threads.get_num_threads() == (expected or threads.usable_cores())


def test_freed_memory_is_kept_on_linux_glibc():
    import platform
    from minicnn import backend
    if not (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"):
        pytest.skip("the allocator setting applies to Linux with glibc only")
    assert backend.KEPT_FREED_MEMORY is True


WORKER_ALLOCATES = r"""
import resource, threading
import numpy as np
import minicnn
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


def test_a_worker_thread_reuses_the_memory_it_freed():
    """The second round of a worker thread's allocations page-faults (almost) nothing: its memory was kept.

    With glibc's defaults, or with only the trim and mmap settings (a worker then has an
    arena of its own), the second round faulted 768 pages of 30,000 on the benchmark machine.
    """
    import platform
    import subprocess
    import sys
    if not (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"):
        pytest.skip("the allocator setting applies to Linux with glibc only")
    out = subprocess.run([sys.executable, "-c", WORKER_ALLOCATES], capture_output=True, text=True,
                         check=True, timeout=120)
    first, second = map(int, out.stdout.split())
    assert first > 10_000                  # 120 MiB touched for the first time
    assert second < first // 100, (first, second)
