"""The benchmark harness: it runs, writes complete results, and compares the same network.

No test here asserts a speed: timings on a shared machine prove nothing. They check
that every number the harness promises is there and positive, and that the PyTorch
network it times is really the minicnn network (same outputs, same gradients).
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn import benchmark
from minicnn.models import convnet, lenet

ROOT = Path(__file__).resolve().parents[1]
HAVE_TORCH = benchmark._have_torch()
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed: the translation "
                                 "to PyTorch cannot be checked (pip install torch)")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `--quick` run: (result JSON, output folder, what it printed)."""
    out = tmp_path_factory.mktemp("bench")
    import contextlib
    import io
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert benchmark.main(["--quick", "--out", str(out)]) == 0
    return json.loads((out / "latest.json").read_text()), out, printed.getvalue()


def test_quick_run_writes_markdown_json_and_chart(quick_run):
    result, out, printed = quick_run
    for name in ("latest.md", "latest.json", "latest.png"):
        assert (out / name).stat().st_size > 0, f"{name} is missing or empty"
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "latest.md").read_text()
    assert "| model | batch | task | contender | img/s (median)" in markdown
    assert markdown.strip() in printed, "the tables are printed to stdout too"
    assert result["machine"]["cpu"] and result["machine"]["numpy"] == np.__version__


def test_the_report_says_when_the_environment_chose_openblas_kernels(quick_run):
    """OPENBLAS_CORETYPE in the environment gets a sentence in the report (pointing to blas_kernels.py)."""
    import copy
    result = copy.deepcopy(quick_run[0])
    result["machine"]["blas_environment"] = {"OPENBLAS_CORETYPE": "Haswell"}
    assert "chosen by the environment (OPENBLAS_CORETYPE=Haswell)" in benchmark.render_markdown(result)
    result["machine"]["blas_environment"] = {}
    assert "OPENBLAS_CORETYPE" not in benchmark.render_markdown(result)


def test_every_contender_model_and_batch_has_positive_numbers(quick_run):
    result, _, _ = quick_run
    contenders = set(result["contenders"])
    assert "minicnn-numpy" in contenders
    assert ("pytorch-cpu" in contenders) == HAVE_TORCH
    models, batches = result["settings"]["models"], result["settings"]["batch_sizes"]
    assert models == ["lenet", "convnet"]
    entries = {(e["model"], e["batch"], e["task"], e["contender"]): e for e in result["throughput"]}
    for model in models:
        for batch in batches:
            for task in ("train", "infer"):
                for name in contenders:
                    e = entries.pop((model, batch, task, name))
                    ips = e["images_per_second"]
                    assert e["steps"] >= 1 and len(ips["runs"]) == result["settings"]["repeats"]
                    assert min(ips["runs"]) > 0 and ips["min"] <= ips["median"] <= ips["max"]
                    assert e["percent_of_matmul_limit"] > 0
                    if HAVE_TORCH:
                        r = e["ratio_to_pytorch_cpu"]
                        assert r["of_medians"] > 0 and r["paired_min"] <= r["paired_max"]
                    if task == "train":
                        assert e["peak_memory_mib"] > 0, f"{name} {model} batch {batch}: no memory figure"
    assert not entries, f"unexpected extra entries {sorted(entries)}"
    latency = {(e["model"], e["contender"]): e["ms"] for e in result["latency"]}
    assert set(latency) == {(m, n) for m in models for n in contenders}
    assert all(ms["median"] > 0 for ms in latency.values())


def test_roofline_flops_memory_and_per_layer_tables(quick_run):
    result, _, _ = quick_run
    cpu = result["roofline"]["cpu"]
    assert cpu["limit_gflops"] > 0 and cpu["limit_gflops"] == max(max(v.values()) for v in cpu["gflops"].values())
    for name, build in (("lenet", lenet), ("convnet", convnet)):
        f = result["models"][name]
        assert f["forward_flops_per_image"] == sum(r[3] for r in build().summary_rows((1, 28, 28)))
        assert f["training_flops_per_image"] == 3 * f["forward_flops_per_image"]
    for m in result["memory"]:
        assert "error" not in m, m.get("error")
        assert m["host_peak_with_init_mib"] >= m["host_peak_mib"] > 0
    layers = {(e["contender"], e["model"], e["batch"]): e for e in result["per_layer"]}
    for model in result["settings"]["models"]:
        for batch in result["settings"]["batch_sizes"]:
            e = layers[("minicnn-numpy", model, batch)]
            assert [r["layer"].split(": ")[1] for r in e["rows"]] == \
                [type(layer).__name__ for layer in benchmark.MODELS[model]().layers]
            assert e["step_ms"] > 0 and all(r["forward_ms"] > 0 for r in e["rows"])
            # the first layer's backward still runs (weight gradients), only its input gradient is skipped
            assert e["rows"][0]["backward_ms"] > 0
            assert e["order"] == benchmark.MODELS[model]().execution_order() != sorted(e["order"])
    markdown = (quick_run[1] / "latest.md").read_text()
    assert "Sequential ran the layers in the order 0, 2, 1, 3, 5, 4, 6" in markdown


def test_skipped_frameworks_have_a_reason(quick_run):
    result, _, _ = quick_run
    for name in ("jax-cpu", "tensorflow", "minicnn-cupy", "pytorch-cuda"):
        if name not in result["contenders"]:
            assert result["skipped"][name], f"{name} skipped without saying why"


@needs_torch
def test_translated_networks_are_checked_before_timing(quick_run):
    result, _, _ = quick_run
    for diffs in result["translation"].values():
        assert diffs["pytorch-cpu"] <= benchmark.TRANSLATION_ATOL


def _all_layers_model():
    """Every layer type to_torch knows, with padding and strides that differ from the defaults."""
    return mc.Sequential(
        mc.Conv2d(1, 4, 3, stride=2, padding=1), mc.ReLU(), mc.AvgPool2d(3, stride=1, padding=1),
        mc.Conv2d(4, 6, (3, 2), padding=(1, 0)), mc.ReLU(), mc.MaxPool2d(2, padding=1),
        mc.Flatten(), mc.Dropout(0.3), mc.Linear(6 * 8 * 7, 12), mc.ReLU(), mc.Linear(12, 5),
        mc.LogSoftmax(dim=1))


@needs_torch
@pytest.mark.parametrize("build", [lenet, convnet, _all_layers_model], ids=["lenet", "convnet", "all-layers"])
def test_to_torch_gives_the_same_outputs_and_gradients(backend, build):
    import torch
    mc.manual_seed(1)
    model = build().eval()
    net = benchmark.to_torch(model)
    x = np.random.default_rng(2).random((5, 1, 28, 28), dtype=np.float32)
    y = np.array([0, 1, 2, 3, 4])
    out = mc.to_numpy(model.forward(mc.asarray(x)))
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # one backward pass in eval mode (dropout off): every weight gradient matches
    loss = mc.NLLLoss()
    loss.forward(model.forward(mc.asarray(x)), mc.asarray(y))
    model.backward(loss.backward(), input_grad=False)
    torch.nn.functional.nll_loss(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    theirs = dict(net.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(mc.to_numpy(p.grad), theirs[name].grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=f"gradient of {name}")


@needs_torch
def test_to_torch_names_a_layer_it_cannot_translate():
    class Square(mc.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(ValueError, match=r"layer 1 \(Square\) has no PyTorch translation"):
        benchmark.to_torch(mc.Sequential(mc.Flatten(), Square()))


def test_options_and_a_run_without_pytorch(tmp_path, monkeypatch, capsys):
    """--models, --batch-sizes (commas too), --repeats, --no-memory; PyTorch missing is a note, not a crash."""
    def no_torch():
        raise RuntimeError("this part of the benchmark needs PyTorch, which is not installed")
    monkeypatch.setattr(benchmark, "_torch", no_torch)
    monkeypatch.setattr(benchmark, "_have_torch", lambda: False)
    assert benchmark.main(["--quick", "--models", "lenet", "--batch-sizes", "2,3", "--repeats", "1",
                           "--steps", "2", "--no-memory", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "latest.json").read_text())
    assert [n for n in result["contenders"] if n != "jax-cpu"] == ["minicnn-numpy"]
    assert "PyTorch" in result["skipped"]["pytorch-cpu"]
    assert {(e["model"], e["batch"], e["task"]) for e in result["throughput"]} == \
        {("lenet", b, t) for b in (2, 3) for t in ("train", "infer")}
    assert all(e["steps"] == 2 and e["ratio_to_pytorch_cpu"] is None for e in result["throughput"])
    assert result["memory"] == [] and all(e["peak_memory_mib"] is None for e in result["throughput"])
    assert "n/a" in capsys.readouterr().out
    assert (tmp_path / "latest.png").exists()


def test_ratios_are_the_table_medians_with_paired_ranges():
    r = benchmark._ratios([100.0, 200.0, 300.0], [100.0, 100.0, 100.0])       # images/s: higher is faster
    assert r == dict(of_medians=2.0, paired_min=1.0, paired_max=3.0)
    # latency in ms, 2 repetitions of 3 calls: lower is faster, so the ratio is reference / contender
    r = benchmark._latency_ratio([1.0, 1.0, 1.0, 10.0, 10.0, 10.0], [2.0] * 6, repeats=2)
    assert r["of_medians"] == pytest.approx(2.0 / 5.5)
    assert (r["paired_min"], r["paired_max"]) == pytest.approx((0.2, 2.0))
    assert benchmark._ratios([1.0], None) is None and benchmark._latency_ratio([1.0], None, 1) is None


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--steps", "-1"], "--steps must be at least 1"),
    (["--batch-sizes", "0"], "expected numbers of at least 1"),
    (["--batch-sizes", "big"], "expected whole numbers"),
    (["--models", "resnet"], "invalid choice: 'resnet'"),
])
def test_bad_options_give_one_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        benchmark.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_benchmarks_is_the_same_command():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "minicnn bench" in proc.stdout and "--no-memory" in proc.stdout


def load_script(name):
    """benchmarks/<name>.py as a module (the folder holds scripts, not an importable package of them)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_page_faults_script_measures_every_setting(tmp_path):
    """benchmarks/page_faults.py: four fresh processes (allocator setting off/on x 1/2 threads), one table."""
    import platform
    if platform.system() != "Linux" or not mc.backend.KEPT_FREED_MEMORY:
        pytest.skip("the allocator setting and these page-fault counts are for Linux with glibc")
    script = load_script("page_faults")
    out = tmp_path / "faults.txt"
    lines = script.main(["--steps", "2", "--batch", "32", "--out", str(out)])
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("no", "1"), ("no", "2"), ("yes", "1"), ("yes", "2")]
    assert all(float(r[2]) >= 0 and float(r[4]) > 0 for r in rows)
    assert out.read_text().strip().endswith(lines[-1])


needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="JAX is not installed (pip install jax): its contender is not tested")


@needs_jax
@pytest.mark.parametrize("make, training", [(lenet, True), (convnet, False)])
def test_jax_contender_computes_what_minicnn_computes(make, training):
    """The translated JAX network: same outputs, and the same weights after three SGD steps."""
    mc.manual_seed(0)
    model = make()
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)
    ours, theirs = benchmark.make_contender("minicnn-numpy"), benchmark.make_contender("jax-cpu")
    for c in (ours, theirs):
        c.setup(model, x, y)
    assert benchmark.check_translation([ours, theirs], model, x)["jax-cpu"] <= 1e-5
    for c in (ours, theirs):
        c.set_training(training)        # convnet in eval mode: no dropout, so no random masks to differ
        for _ in range(3):
            c.train_step()
    for layer, ours_layer, params in zip(model.layers, ours.model.layers, theirs.params):
        for name, p in ours_layer.named_parameters():
            np.testing.assert_allclose(np.asarray(params[name]), p.data, atol=1e-6, rtol=1e-5)
    theirs.set_training(False)
    assert theirs.predict(x[:1]).shape == (1, 10)


@needs_torch
def test_blas_kernels_script_measures_both_settings(tmp_path):
    """benchmarks/blas_kernels.py: each model with the environment as it is and without OPENBLAS_CORETYPE."""
    script = load_script("blas_kernels")
    out = tmp_path / "blas.txt"
    lines = script.main(["--models", "lenet", "--batch", "4", "--rounds", "1", "--repeats", "1",
                         "--out", str(out)])
    rows = lines[2:]
    assert len(rows) == 2 and all(r.startswith("lenet") for r in rows)
    assert "OPENBLAS_CORETYPE removed" in rows[1]
    assert all(r.split()[-2].endswith("x") and float(r.split()[-2][:-1]) > 0 for r in rows)
    assert out.read_text().strip().endswith(lines[-1])


def test_pool_before_relu_script_times_both_orders(tmp_path):
    """benchmarks/pool_before_relu.py: one row per model and batch, minicnn both ways (and PyTorch where present)."""
    script = load_script("pool_before_relu")
    out = tmp_path / "pbr.txt"
    lines = script.main(["--models", "lenet", "--batches", "4", "--repeats", "1", "--out", str(out)])
    (row,) = [line.split() for line in lines[2:]]
    assert row[:2] == ["lenet", "4"]
    assert float(row[2].replace(",", "")) > 0 and float(row[3].replace(",", "")) > 0
    assert float(row[4][:-1]) > 0
    assert (float(row[5][:-1]) > 0 and float(row[6][:-1]) > 0) if HAVE_TORCH else row[5:] == ["-", "-"]
    assert out.read_text().strip().endswith(lines[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux only")
def test_chunk_engines_script_times_threads_and_processes(tmp_path):
    """benchmarks/chunk_engines.py: one row per model and batch, both engines (and PyTorch where present)."""
    script = load_script("chunk_engines")
    engine = mc.get_chunk_engine()
    out = tmp_path / "engines.txt"
    lines = script.main(["--models", "lenet", "--batches", "64", "--repeats", "1", "--out", str(out)])
    (row,) = [line.split() for line in lines[2:]]
    assert row[:2] == ["lenet", "64"] and float(row[2].replace(",", "")) > 0 and float(row[3].replace(",", "")) > 0
    assert float(row[4][:-1]) > 0
    assert (float(row[5][:-1]) > 0 and float(row[6][:-1]) > 0) if HAVE_TORCH else row[5:] == ["-", "-"]
    assert mc.get_chunk_engine() == engine                  # the global setting is left as it was


def test_repetitions_alternate_the_order_of_the_contenders():
    """A B C, C B A, ...: a place in the order that happens to be favoured is favoured for everyone."""
    calls = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def set_training(self, mode):
            pass

        def sync(self):
            pass

        def train_step(self):
            calls.append(self.name)

    contenders = [Fake("a"), Fake("b"), Fake("c")]
    _, runs = benchmark.measure_throughput(contenders, 4, "train", 4, 1, warmup=1)
    timed = calls[3:]                                       # after one warm-up call each
    assert timed == list("abc" "cba" "abc" "cba")
    assert all(len(v) == 4 for v in runs.values())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux only")
def test_memory_of_minicnn_counts_its_worker_processes():
    result = benchmark.measure_memory("minicnn-numpy", "lenet", 64, 1)
    assert "error" not in result, result.get("error")
    assert result["worker_processes_mib"] > 1
    assert result["host_peak_mib"] > result["worker_processes_mib"]


def test_chunks_script_compares_one_thread_with_chunks(tmp_path):
    """benchmarks/chunks.py: one row per model and batch size, both timings positive."""
    script = load_script("chunks")
    before = (mc.threads.MIN_CHUNK, mc.get_num_threads())
    lines = script.main(["--models", "lenet", "--batches", "4", "8", "--repeats", "1", "--steps", "1",
                         "--out", str(tmp_path / "chunks.txt")])
    assert (mc.threads.MIN_CHUNK, mc.get_num_threads()) == before       # settings restored
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("lenet", "4"), ("lenet", "8")]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)


def test_micro_benchmark_alternatives_compute_the_same():
    """benchmarks/micro.py times pairs of ways to compute one thing: they must agree."""
    script = load_script("micro")
    titles = []
    for title, fns in script.cases():
        first, *others = [np.asarray(fn()) for fn in fns.values()]
        for other in others:
            # float32 sums of thousands of terms round differently by summation order
            np.testing.assert_allclose(other, first, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(first).max()) * 10,
                                       err_msg=title)
        titles.append(title)
    assert len(titles) == 5
    assert all(ms > 0 for ms in script._median_ms({"a": lambda: np.ones(3)}, calls=2, rounds=1).values())
