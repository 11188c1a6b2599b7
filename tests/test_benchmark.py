"""The benchmark harness (benchmarks/): it runs, writes complete results, and keeps contenders apart.

No test here asserts a speed: timings on a shared machine prove nothing. They check that
every number the harness promises is there and positive, that each contender ran in a
process of its own, in alternating order, on the same network, and that the report says
what machine and BLAS it ran on.
"""
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import harness, micro, run, stats
from benchmarks.contenders import BASELINE, BASELINE_DP, CONTENDERS, REFERENCE
from benchmarks.network import write_problem
import minicnn as mc
from minicnn import cli
from minicnn.models import lenet

ROOT = Path(__file__).resolve().parents[1]
HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `python -m benchmarks --quick --models lenet` run, with a copy of this minicnn as the
    baseline: (result JSON, output folder, stdout, the baseline folder)."""
    tmp = tmp_path_factory.mktemp("bench")
    baseline = tmp / "baseline"
    shutil.copytree(ROOT / "minicnn", baseline / "minicnn", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--models", "lenet",
                           "--baseline", str(baseline), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "latest.json").read_text()), out, proc.stdout, baseline


def test_quick_run_writes_markdown_json_and_chart(quick_run):
    result, out, printed, _ = quick_run
    for name in ("latest.md", "latest.json", "latest.png"):
        assert (out / name).stat().st_size > 0, f"{name} is missing or empty"
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "latest.md").read_text()
    assert "| model | batch | task | contender | img/s (median)" in markdown
    assert markdown.strip() in printed, "the tables are printed to stdout too"


def test_every_contender_has_positive_numbers_or_a_skip_reason(quick_run):
    result = quick_run[0]
    ran, skipped = set(result["contenders"]), result["skipped"]
    assert set(CONTENDERS) == ran | set(skipped) and not ran & set(skipped)
    assert all(skipped[name].strip() for name in skipped), "a contender was skipped without a reason"
    assert {"minicnn", BASELINE} <= ran
    assert (REFERENCE in ran) == HAVE_TORCH
    batch = result["settings"]["batch_sizes"][0]
    entries = {(e["task"], e["contender"]): e for e in result["throughput"]}
    assert set(entries) == {(task, name) for task in ("train", "infer") for name in ran}
    for (task, name), e in entries.items():
        ips = e["images_per_second"]
        assert e["model"] == "lenet" and e["batch"] == batch and e["steps"] == 1
        assert len(ips["runs"]) == result["settings"]["repeats"] and min(ips["runs"]) > 0
        assert e["percent_of_matmul_limit"] > 0
        if task == "train":
            assert e["peak_memory_mib"] > 0, f"{name}: no memory figure"
    assert all(e["ms"]["median"] > 0 for e in result["latency"])
    assert {e["contender"] for e in result["latency"]} == ran
    for m in result["memory"]:
        assert "error" not in m, m.get("error")
        assert m["host_peak_with_init_mib"] >= m["host_peak_mib"] > 0


def test_each_contender_ran_in_a_process_of_its_own(quick_run):
    result = quick_run[0]
    pids = [c["pid"] for c in result["contenders"].values()]
    assert len(set(pids)) == len(pids), "two contenders shared a process"
    assert result["pid"] not in pids, "a contender ran in the parent process"


def test_the_baseline_imports_minicnn_from_its_own_checkout(quick_run):
    result, out, _, baseline = quick_run
    for name in (BASELINE, BASELINE_DP):
        info = result["contenders"][name]["info"]
        assert Path(info["minicnn_file"]).resolve().is_relative_to(baseline.resolve())
        assert "explicit" in info["allocator"] and "zoo" in info["network"], "the baseline runs as it used to"
    assert Path(result["contenders"]["minicnn"]["info"]["minicnn_file"]).resolve().is_relative_to(ROOT)
    against = {e["contender"]: e["baseline"] for e in result["throughput"] if e.get("ratio_to_baseline")}
    assert against["minicnn"] == against["minicnn-zoo"] == BASELINE
    assert against["minicnn-dp"] == against["minicnn-zoo-dp"] == BASELINE_DP       # like with like
    assert BASELINE not in against and BASELINE_DP not in against
    assert f"baseline {baseline.resolve()}" in (out / "latest.md").read_text()


def test_the_default_minicnn_contenders_run_a_users_script(quick_run):
    """Their own Sequential in a learner's order, the README's loop, no allocator call of their own:
    the setting comes from minicnn's default, as in a user's script; the variants say what they change."""
    result, out, _, _ = quick_run
    info = {name: c["info"] for name, c in result["contenders"].items()}
    for name in ("minicnn", "minicnn-dp", "minicnn-no-alloc", "minicnn-dp-no-alloc"):
        assert info[name]["network"].startswith("Conv2d -> ReLU -> MaxPool2d, the user's own Sequential"), name
    for name in ("minicnn-zoo", "minicnn-zoo-dp"):
        assert info[name]["network"].startswith("Conv2d -> MaxPool2d -> ReLU"), name
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    for name in ("minicnn", "minicnn-dp", "minicnn-zoo", "minicnn-zoo-dp"):
        assert info[name]["allocator"].startswith("minicnn's default") and info[name]["kept_freed_memory"] == glibc
    for name in ("minicnn-no-alloc", "minicnn-dp-no-alloc"):
        assert "disable()" in info[name]["allocator"] and info[name]["kept_freed_memory"] is False
    markdown = (out / "latest.md").read_text()
    assert all(f"(`{name}`)" in markdown for name in info if name.startswith("minicnn")), "which is which"


@pytest.mark.parametrize("kwargs, at_start, after_setup", [
    (dict(mode="eager"), [], [1]),                                  # a user's script: SGD makes it
    (dict(mode="dp", network="zoo"), [], [1]),
    (dict(mode="eager", allocator="off"), [], []),
    (dict(mode="eager", baseline=True), [1], [1]),                  # the old way: called at the start
])
def test_who_makes_the_allocator_setting(kwargs, at_start, after_setup, monkeypatch, tmp_path):
    from benchmarks.contender_minicnn import Minicnn
    from minicnn import allocator
    calls = []
    monkeypatch.setattr(allocator, "_kept", None)
    monkeypatch.delenv("MINICNN_KEEP_FREED_MEMORY", raising=False)
    monkeypatch.setattr(allocator, "_mallopt", lambda: calls.append(1) or True)
    contender = Minicnn(**kwargs)
    assert calls == at_start
    network, data = write_problem("lenet", 4, tmp_path)
    with np.load(data) as f:
        contender.setup(network, f["x"], f["y"])
    assert calls == after_setup and contender.state()["kept_freed_memory"] == bool(after_setup)


@pytest.mark.parametrize("model_name", ["lenet", "convnet"])
def test_a_users_script_computes_the_zoo_models_function(model_name, tmp_path):
    from benchmarks.contender_minicnn import script_model
    network, data = write_problem(model_name, 8, tmp_path)
    zoo, script = mc.Sequential.load(network).eval(), script_model(mc, network).eval()
    types = [type(layer).__name__ for layer in script.layers]
    assert types[:3] == ["Conv2d", "ReLU", "MaxPool2d"] and len(types) == len(zoo.layers)
    with np.load(data) as f:
        np.testing.assert_allclose(script.forward(f["x"]), zoo.forward(f["x"]), rtol=1e-6, atol=1e-6)


def test_the_networks_are_checked_to_agree_before_timing(quick_run):
    result = quick_run[0]
    (diffs,) = result["translation"].values()
    assert set(diffs) == set(result["contenders"])
    for name, d in diffs.items():
        assert d["output"] <= run.TRANSLATION_ATOL and d["losses"] <= run.TRANSLATION_ATOL, name


def test_the_report_states_the_cpu_and_the_blas_kernels(quick_run):
    result, out, _, _ = quick_run
    m = result["machine"]
    assert m["cpu"] and m["usable_cores"] >= 1 and m["numpy"] == np.__version__
    assert m["numpy_blas"] and all(b["internal_api"] and b["version"] for b in m["numpy_blas"])
    assert isinstance(m["blas_environment"], dict) and len(m["load_average_start"]) == 3
    markdown = (out / "latest.md").read_text()
    assert f"**CPU:** {m['cpu']}" in markdown and m["numpy_blas"][0]["internal_api"] in markdown
    if HAVE_TORCH:
        info = result["contenders"][REFERENCE]["info"]
        assert info["num_threads"] >= 1 and "cpu_capability" in info
        assert f"{info['num_threads']} threads" in markdown


def test_minicnn_per_layer_times_and_the_roofline(quick_run):
    result = quick_run[0]
    zoo_order = [type(la).__name__ for la in lenet().layers]
    script_order = ["Conv2d", "ReLU", "MaxPool2d"] * 2 + zoo_order[6:]
    (entry,) = [e for e in result["per_layer"] if e["contender"] == "minicnn-zoo"]
    assert [r["layer"].split(": ")[1] for r in entry["rows"]] == zoo_order
    (entry,) = [e for e in result["per_layer"] if e["contender"] == "minicnn"]
    assert [r["layer"].split(": ")[1] for r in entry["rows"]] == script_order
    assert entry["step_ms"] > 0 and all(r["forward_ms"] > 0 for r in entry["rows"])
    assert entry["rows"][0]["backward_ms"] > 0      # the weight gradients of the first layer still run
    cpu = result["roofline"]["cpu"]
    assert cpu["limit_gflops"] == max(max(v.values()) for v in cpu["gflops"].values()) > 0


class FakeChild:
    """Answers like a contender process and records the order it was asked in."""

    def __init__(self, name, calls, output=0.0):
        self.name, self.calls, self.output = name, calls, output

    def ask(self, op, **arguments):
        if op == "time":
            self.calls.append(self.name)
        return dict(seconds=0.01, output=[[self.output]], losses=[1.0])


def test_repetitions_alternate_the_order_of_the_contenders(monkeypatch):
    """A B C, C B A, ...: a place in the order that happens to be favoured is favoured for everyone."""
    monkeypatch.setattr(harness, "PAUSE_SECONDS", 0)
    calls = []
    children = {n: FakeChild(n, calls) for n in "abc"}
    steps, runs = harness.throughput(children, 4, "train", 4, None, warmup=1)
    assert calls == list("abc" "cba" "abc" "cba")
    assert steps == 30 and all(v == [30 * 4 / 0.01] * 4 for v in runs.values())


def test_a_different_network_stops_the_run_with_one_sentence():
    children = {"minicnn": FakeChild("minicnn", []), "other": FakeChild("other", [], output=0.5)}
    with pytest.raises(harness.ChildError, match="contender other computes a different network from minicnn"):
        harness.check_translation(children, "net.npz", "data.npz", 1, 1e-3)


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--steps", "-1"], "--steps must be at least 1"),
    (["--batch-sizes", "0"], "expected numbers of at least 1"),
    (["--batch-sizes", "big"], "expected whole numbers"),
    (["--models", "resnet"], "invalid choice: 'resnet'"),
    (["--contenders", "tensorflow"], "invalid choice: 'tensorflow'"),
    (["--contenders", BASELINE], "needs --baseline DIR"),
    (["--contenders", BASELINE_DP], "needs --baseline DIR"),
    (["--baseline", "/nonexistent"], "--baseline /nonexistent is not a minicnn checkout"),
])
def test_bad_options_give_one_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        run.parse(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]


def test_ratios_are_the_table_medians_with_paired_ranges():
    r = stats.ratios([100.0, 200.0, 300.0], [100.0, 100.0, 100.0])       # images/s: higher is faster
    assert r == dict(of_medians=2.0, paired_min=1.0, paired_max=3.0)
    # latency in ms, 2 repetitions of 3 calls: lower is faster, so the ratio is reference / contender
    r = stats.latency_ratio([1.0, 1.0, 1.0, 10.0, 10.0, 10.0], [2.0] * 6, repeats=2)
    assert r["of_medians"] == pytest.approx(2.0 / 5.5)
    assert (r["paired_min"], r["paired_max"]) == pytest.approx((0.2, 2.0))
    assert stats.ratios([1.0], None) is None and stats.latency_ratio([1.0], None, 1) is None


def test_minicnn_bench_runs_python_dash_m_benchmarks_in_the_checkout(capfd):
    assert cli.benchmarks_root() == ROOT
    assert cli.main(["bench", "--help"]) == 0
    out = capfd.readouterr().out
    assert "usage: python -m benchmarks" in out and "--baseline DIR" in out


def test_minicnn_bench_without_a_checkout_says_how_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "benchmarks_root", lambda: None)
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clone" in err[0] and "python -m benchmarks" in err[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the allocator call is for Linux with glibc")
def test_page_faults_script_measures_every_setting(tmp_path):
    """benchmarks/page_faults.py: four fresh processes (opted out / minicnn's default x eager/DataParallel)."""
    from benchmarks import page_faults
    out = tmp_path / "faults.txt"
    lines = page_faults.main(["--steps", "2", "--batch", "32", "--out", str(out)])
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("no", "eager"), ("no", "DataParallel"),
                                            ("yes", "eager"), ("yes", "DataParallel")]
    assert all(float(r[2]) >= 0 and float(r[4]) > 0 for r in rows)
    assert out.read_text().strip().endswith(lines[-1])


def test_micro_benchmark_alternatives_compute_the_same():
    """benchmarks/micro.py times pairs of ways to compute one thing: they must agree."""
    titles = []
    for title, batch, fns in micro.cases():
        first, *others = [np.asarray(fn()) for fn in fns.values()]
        for other in others:
            # float32 sums of thousands of terms round differently by summation order
            np.testing.assert_allclose(other, first, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(first).max()) * 10,
                                       err_msg=title)
        titles.append(title)
        assert batch in (64, 256)
    assert len(titles) == 7
    assert all(ms > 0 for ms in micro._median_ms({"a": lambda: np.ones(3)}, calls=2, rounds=1).values())


def test_threads_script_times_every_operation_alone_and_with_two_callers(tmp_path):
    """benchmarks/threads.py: one row per operation, its time alone, on two threads and in two processes."""
    from benchmarks import threads
    out = tmp_path / "threads.txt"
    lines = threads.main(rounds=1, seconds=0.005, out=out)
    rows = lines[2:]
    assert len(rows) == len(threads.operations()) == 7
    for row in rows:
        alone, unit, *ratios = row.split()[-4:]
        assert unit == "us" and float(alone) > 0 and len(ratios) == 2
        assert all(r.endswith("x") and float(r[:-1]) > 0 for r in ratios)
    assert out.read_text().strip().endswith(lines[-1])
