"""DataParallel (minicnn/parallel.py): the plain model's numbers on every core, usable cores, clear errors."""
import copy
import subprocess
import sys
import threading

import numpy as np
import pytest

import minicnn as mc
from minicnn import parallel
from minicnn.layers.registry import LAYERS, LayerType
from minicnn.models import convnet, lenet

needs_threadpoolctl = pytest.mark.skipif(parallel._blas_controller() is None,
                                         reason="threadpoolctl is not installed (pip install threadpoolctl)")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of 16 samples, so that the small batches of these tests are split (the real
    threshold, MIN_CHUNK, is a speed choice)."""
    monkeypatch.setattr(parallel, "MIN_CHUNK", 16)


def mixed_model():
    """Per-sample layers, then Dropout (random: the split stops there), then more layers."""
    return mc.Sequential(
        mc.Conv2d(1, 4, 3, padding=1), mc.ReLU(), mc.MaxPool2d(3, stride=2, padding=1),  # (N, 4, 4, 4)
        mc.Conv2d(4, 3, 2), mc.AvgPool2d(2, stride=1),                                  # (N, 3, 2, 2)
        mc.Flatten(), mc.Dropout(0.3), mc.Linear(12, 5), mc.LogSoftmax(dim=1))          # (N, 5)


def one_step(model, x, y, input_grad=True, seed=3):
    """Forward, NLL loss, backward: (output, input gradient, parameter gradients)."""
    mc.manual_seed(seed)                                  # the same dropout mask every time
    out = model.forward(x)
    loss = mc.NLLLoss()
    loss.forward(out, y)
    dx = model.backward(loss.backward(), input_grad=input_grad)
    return out, dx, [p.grad.copy() for p in model.parameters()]


def plain_then_wrapped(model, x, y, workers, input_grad=True):
    """One step on the plain model, then (gradients zeroed) the same step through DataParallel:
    (the wrapped model, the plain step's results, the wrapped step's results), as one_step's."""
    plain = one_step(model, x, y, input_grad)
    model.zero_grad()
    wrapped = mc.DataParallel(model, workers=workers)
    return wrapped, plain, one_step(wrapped, x, y, input_grad)


def assert_same_step(got, expected):
    """Two one_step results agree: output, input gradient and every parameter gradient."""
    (out2, dx2, grads2), (out1, dx1, grads1) = got, expected
    for a, b in zip([out2, dx2] + grads2, [out1, dx1] + grads1):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@needs_threadpoolctl
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("make, n", [(lenet, 64), (convnet, 49), (mixed_model, 50)])
@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("input_grad", [True, False])
def test_data_parallel_gives_the_numbers_of_the_plain_model(make, n, workers, dtype, rtol, input_grad):
    mc.manual_seed(0)
    model = make().to(dtype=dtype).train()
    shape = (1, 28, 28) if make is not mixed_model else (1, 8, 8)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n,) + shape).astype(dtype)
    y = rng.integers(0, 5, n)
    wrapped, (out1, dx1, grads1), (out2, dx2, grads2) = plain_then_wrapped(model, x, y, workers, input_grad)
    bounds, heads = wrapped._last                         # it really was split
    assert len(bounds) == workers and bounds[0][0] == 0 and bounds[-1][1] == n
    assert len(heads[0]) == wrapped.split_depth() > 0
    assert out2.dtype == dtype
    np.testing.assert_allclose(out2, out1, rtol=rtol, atol=rtol)
    if input_grad:
        assert dx2.dtype == dtype
        np.testing.assert_allclose(dx2, dx1, rtol=rtol, atol=rtol * 1e-2)
    else:
        assert dx1 is None and dx2 is None
    for g2, g1 in zip(grads2, grads1):
        np.testing.assert_allclose(g2, g1, rtol=rtol, atol=rtol * 1e-2)


@needs_threadpoolctl
@pytest.mark.parametrize("n, workers", [(40, 2), (64, 2), (100, 3), (33, 2)])
def test_five_sgd_steps_with_momentum_match_the_plain_model(n, workers):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((n, 1, 28, 28)), rng.integers(0, 10, n)
    weights = []
    for wrap in (False, True):
        mc.manual_seed(0)
        model = convnet().double()
        runner = mc.DataParallel(model, workers) if wrap else model
        opt = mc.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss = mc.NLLLoss()
        for step in range(5):
            opt.zero_grad()
            mc.manual_seed(step)                          # the same dropout masks both times
            loss.forward(runner.forward(x), y)
            runner.backward(loss.backward(), input_grad=False)
            opt.step()
        if wrap:
            assert runner._last is not None
        weights.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@needs_threadpoolctl
def test_gradients_accumulate_through_data_parallel_as_in_the_plain_model():
    mc.manual_seed(0)
    model = lenet().double()
    x = np.random.default_rng(0).standard_normal((64, 1, 28, 28))
    y = np.arange(64) % 10
    _, _, once = one_step(model, x, y)
    wrapped = mc.DataParallel(model, workers=2)
    _, _, twice = one_step(wrapped, x, y)                  # no zero_grad in between
    for a, b in zip(twice, once):
        np.testing.assert_allclose(a, 2 * b, rtol=1e-10, atol=1e-14)
    wrapped.zero_grad()
    assert all(p.grad is None for p in model.parameters())


class Scale(mc.Module):
    """A learner's own layer: DataParallel does not know it, so it runs on the whole batch."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output


def test_the_split_stops_at_the_first_layer_that_is_not_per_sample():
    assert mc.DataParallel(lenet()).split_depth() == len(lenet())
    assert mc.DataParallel(mixed_model()).split_depth() == 6        # up to the Dropout
    assert mc.DataParallel(mc.Sequential(mc.Conv2d(1, 2, 3), Scale(), mc.ReLU())).split_depth() == 1

    class MyReLU(mc.ReLU):
        pass

    assert mc.DataParallel(mc.Sequential(MyReLU(), mc.ReLU())).split_depth() == 0


@needs_threadpoolctl
def test_a_layer_of_its_own_runs_on_the_whole_batch():
    model = mc.Sequential(mc.Conv2d(1, 2, 3), Scale(), mc.ReLU(), mc.Flatten()).double()
    x = np.random.default_rng(0).standard_normal((40, 1, 5, 5))
    expected = model.forward(x)
    wrapped = mc.DataParallel(model, workers=2)
    np.testing.assert_allclose(wrapped.forward(x), expected, rtol=1e-12)
    assert len(wrapped._last[1][0]) == 1                    # only the Conv2d ran in chunks
    assert wrapped.backward(np.ones_like(expected)).shape == x.shape


class ConvBlock(mc.Module):
    """A learner's block: two convolutions sharing one weight, a ReLU between them."""

    def __init__(self):
        self.convs = [mc.Conv2d(2, 2, 3, padding=1), mc.Conv2d(2, 2, 3, padding=1)]
        self.convs[1].weight = self.convs[0].weight
        self.relu = mc.ReLU()

    def forward(self, x):
        return self.convs[1].forward(self.relu.forward(self.convs[0].forward(x)))

    def backward(self, grad_output):
        return self.convs[0].backward(self.relu.backward(self.convs[1].backward(grad_output)))


@needs_threadpoolctl
def test_a_registered_block_of_layers_runs_on_chunks_with_the_plain_models_numbers(monkeypatch):
    monkeypatch.setitem(LAYERS, "ConvBlock", LayerType(ConvBlock, per_sample=True))   # @mc.register_layer(per_sample=True)
    mc.manual_seed(0)
    model = mc.Sequential(mc.Conv2d(1, 2, 3, padding=1), ConvBlock(), mc.Flatten(), mc.Linear(2 * 6 * 6, 5),
                          mc.LogSoftmax(dim=1)).double()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((64, 1, 6, 6)), rng.integers(0, 5, 64)
    wrapped, expected, got = plain_then_wrapped(model, x, y, workers=2)
    heads = wrapped._last[1]
    assert len(heads) == 2 and len(heads[0]) == len(model.layers)
    mine, twin = heads[0][1], heads[1][1]
    assert twin.convs[0] is not mine.convs[0] and twin.relu is not mine.relu      # its own sub-modules and caches
    assert twin.convs[1].weight is twin.convs[0].weight is not mine.convs[0].weight  # shared as in the block
    assert twin.convs[0].weight.data is mine.convs[0].weight.data                   # the same weights
    assert_same_step(got, expected)


@needs_threadpoolctl
@pytest.mark.parametrize("workers", [2, 3])
def test_a_large_batch_runs_as_several_chunks_per_thread_with_the_plain_models_numbers(monkeypatch, workers):
    monkeypatch.setattr(parallel, "MAX_CHUNK", 20)       # 100 samples: 6 chunks of 16 or 17, a whole number per thread
    mc.manual_seed(0)
    model = mixed_model().double().train()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((100, 1, 8, 8)), rng.integers(0, 5, 100)
    wrapped, expected, got = plain_then_wrapped(model, x, y, workers)
    bounds, heads = wrapped._last
    assert len(bounds) == len(heads) == 6
    assert [b[0] for b in bounds[1:]] == [b[1] for b in bounds[:-1]] and (bounds[0][0], bounds[-1][1]) == (0, 100)
    assert all(16 <= stop - start <= 20 for start, stop in bounds)
    assert_same_step(got, expected)


@pytest.mark.parametrize("fail_at", [None, 1])
def test_each_thread_runs_its_chunks_in_turn_and_the_results_come_back_in_order(fail_at):
    wrapped = mc.DataParallel(lenet(), 3)
    ran = []                                               # (chunk, thread), in the order they started

    def chunk(j):
        ran.append((j, threading.get_ident()))
        if j == fail_at:
            raise ValueError(f"chunk {j} failed")
        return j * j
    if fail_at is None:
        assert wrapped._map(chunk, 7) == [j * j for j in range(7)]
    else:
        with pytest.raises(ValueError, match="chunk 1 failed"):
            wrapped._map(chunk, 7)
    thread = dict(ran)
    assert [j for j, t in ran if t == threading.get_ident()] == [0, 3, 6]   # thread 0 is the caller
    lanes = [[1, 4], [2, 5]] if fail_at is None else [[1], [2, 5]]          # a failed chunk ends its thread's turn
    assert sorted(thread) == sorted([0, 3, 6] + sum(lanes, []))
    for lane in lanes:                                     # one thread, in turn (the pool may reuse a thread)
        assert len({thread[j] for j in lane}) == 1 and [j for j, _ in ran if j in lane] == lane


def test_chunk_counts_small_batches_and_the_cap(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_CHUNK", 32)
    if parallel._blas_controller() is not None:
        assert mc.DataParallel(lenet(), 4).chunk_bounds(140) == [(0, 35), (35, 70), (70, 105), (105, 140)]
        assert parallel.MAX_CHUNK == 64 and parallel.MAX_THREADS == 8
        assert mc.DataParallel(lenet(), 2).chunk_bounds(256) == [(0, 64), (64, 128), (128, 192), (192, 256)]
        assert mc.DataParallel(lenet(), 2).describe(256).endswith("runs as 4 chunks on 2 CPU cores")
        assert len(mc.DataParallel(lenet(), 64).chunk_bounds(1000)) == 16    # 8 threads, 2 chunks each
        assert mc.DataParallel(lenet(), 64).describe(1000).endswith("runs as 16 chunks on 8 CPU cores")
    assert mc.DataParallel(lenet(), 2).chunk_bounds(63) == [(0, 63)]
    assert mc.DataParallel(lenet(), 1).chunk_bounds(256) == [(0, 256)]
    wrapped = mc.DataParallel(lenet(), 2)
    wrapped.forward(np.zeros((1, 1, 28, 28), np.float32))   # one image: the drawing pad's case
    assert wrapped._last is None


def test_without_threadpoolctl_nothing_is_split(monkeypatch):
    monkeypatch.setattr(parallel, "_blas_controller", lambda: None)     # as if the import had failed
    wrapped = mc.DataParallel(lenet(), 2)
    assert wrapped.chunk_bounds(256) == [(0, 256)]
    wrapped.forward(np.zeros((64, 1, 28, 28), np.float32))
    assert wrapped._last is None
    assert "threadpoolctl is not installed" in wrapped.describe(64)


@needs_threadpoolctl
def test_a_bad_input_names_the_layer_even_when_split():
    wrapped = mc.DataParallel(convnet(), 2)
    with pytest.raises(ValueError, match=r"Sequential layer 0: Conv2d expected 1 input channels"):
        wrapped.forward(np.zeros((64, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"Sequential layer 8: Linear expected 1600 input features"):
        wrapped.forward(np.zeros((64, 1, 32, 32), np.float32))   # the whole-batch tail: its own index


@needs_threadpoolctl
def test_blas_threads_come_back_after_a_split():
    controller = parallel._blas_controller()
    before = [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]
    wrapped = mc.DataParallel(lenet(), 2)
    wrapped.backward(wrapped.forward(np.ones((64, 1, 28, 28), np.float32)))
    after = [lib.num_threads for lib in parallel._blas_controller().select(user_api="blas").lib_controllers]
    assert after == before


def test_the_wrapper_passes_on_parameters_modes_and_state():
    model = lenet()
    wrapped = mc.DataParallel(model, 2)
    assert wrapped.module is model
    assert wrapped.parameters() == model.parameters()
    assert wrapped.eval() is wrapped and not model.training and not wrapped.training
    wrapped.train()
    assert model.training and all(layer.training for layer in model)
    state = {k: v + 1 for k, v in wrapped.state_dict().items()}
    assert set(state) == {f"module.{k}" for k in model.state_dict()}     # PyTorch's DataParallel names
    wrapped.load_state_dict(state)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], state["module.0.weight"])
    assert "DataParallel(workers=2" in repr(wrapped)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_worker_counts_are_refused(bad):
    with pytest.raises(ValueError, match="DataParallel workers must be a whole number >= 1"):
        mc.DataParallel(lenet(), bad)
    with pytest.raises(TypeError, match="DataParallel wraps a minicnn Sequential, received Conv2d"):
        mc.DataParallel(mc.Conv2d(1, 1, 1))


# -- usable cores: affinity and a container's CPU quota -----------------------------------------

def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("cpu_max, expected", [("max 100000\n", None), ("200000 100000\n", 2.0),
                                               ("150000 100000\n", 1.5), ("50000 100000\n", 0.5)])
def test_cgroup_v2_quota(tmp_path, cpu_max, expected):
    write(tmp_path / "cg" / "cpu.max", cpu_max)
    write(tmp_path / "self", "0::/\n")
    assert parallel.cpu_quota(tmp_path / "cg", tmp_path / "self") == expected


def test_cgroup_v2_the_smallest_limit_on_the_way_to_the_root_wins(tmp_path):
    write(tmp_path / "cg" / "cpu.max", "400000 100000\n")
    write(tmp_path / "cg" / "kubepods" / "cpu.max", "max 100000\n")
    write(tmp_path / "cg" / "kubepods" / "pod1" / "cpu.max", "300000 100000\n")
    write(tmp_path / "self", "0::/kubepods/pod1\n")
    assert parallel.cpu_quota(tmp_path / "cg", tmp_path / "self") == 3.0


@pytest.mark.parametrize("quota, expected", [("-1\n", None), ("250000\n", 2.5)])
def test_cgroup_v1_quota(tmp_path, quota, expected):
    write(tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", quota)
    write(tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    write(tmp_path / "self", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    assert parallel.cpu_quota(tmp_path / "cg", tmp_path / "self") == expected


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert parallel.cpu_quota(tmp_path / "nothing", tmp_path / "missing") is None
    write(tmp_path / "cg" / "cpu.max", "garbage here\n")
    write(tmp_path / "self", "not a cgroup line\n")
    assert parallel.cpu_quota(tmp_path / "cg", tmp_path / "self") is None


@pytest.mark.parametrize("affinity, quota, expected", [(8, None, 8), (8, 2.0, 2), (8, 1.5, 1),
                                                       (2, 16.0, 2), (4, 0.5, 1)])
def test_usable_cores_is_the_affinity_capped_by_the_quota(monkeypatch, affinity, quota, expected):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(affinity)), raising=False)
    monkeypatch.setattr(parallel, "cpu_quota", lambda: quota)
    assert parallel.usable_cores() == expected
    assert mc.DataParallel(lenet()).workers == expected


# -- what importing minicnn does (the allocator: tests/test_allocator.py) -----------------------------

def test_importing_minicnn_starts_nothing():
    code = ("import sys, threading, minicnn, minicnn.models; minicnn.models.lenet()\n"
            "print(sorted(m for m in ('minicnn.parallel', 'concurrent.futures')"
            " if m in sys.modules), threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "1"], out


@needs_threadpoolctl
def test_a_data_parallel_that_has_run_can_be_deep_copied():
    wrapped = mc.DataParallel(lenet(), 2)
    x = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    wrapped.backward(wrapped.forward(x))                     # its thread pool now exists
    twin = copy.deepcopy(wrapped)
    assert twin.workers == 2 and twin.module is not wrapped.module
    np.testing.assert_array_equal(twin.module[0].weight.data, wrapped.module[0].weight.data)
    np.testing.assert_allclose(twin.forward(x), wrapped.forward(x), rtol=1e-6)
