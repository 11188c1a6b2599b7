"""``python -m benchmarks``: minicnn against PyTorch, JAX and Keras, each in a process of its own.

    python -m benchmarks                          # the full run (both models, batch 64 and 256)
    python -m benchmarks --quick                  # seconds: checks the harness, numbers not worth quoting
    python -m benchmarks --baseline ../before     # adds minicnn eager and DataParallel from an older checkout

For each model and batch size: training and inference throughput, single-image
latency, minicnn's time per layer, peak memory (fresh processes) and the share of
the machine's matrix-multiply speed each contender reaches. Tables go to stdout and
``<out>/latest.md``; everything to ``latest.json``; the ratios to ``latest.png``.
benchmarks/README.md says what is measured and how it is kept fair.
"""
import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import harness, stats
from .chart import write_chart
from .contenders import BASELINES, CONTENDERS, REFERENCE, baseline_of, label
from .machine import load_average, machine_info
from .network import model_figures, write_problem
from .report import render_markdown

MODELS = ("lenet", "convnet")
TRANSLATION_ATOL = 1e-3     # |difference| of log-probabilities and losses; float32 noise is ~1e-6
CHECK_STEPS = 2             # training steps compared by the translation check

# How much work each part does: full runs and --quick runs.
FULL = dict(batch_sizes=(64, 256), repeats=9, steps=None, warmup=3, latency_warmup=10, latency_calls=30,
            matmul_sizes=(512, 1024, 2048), matmul_repeats=3, layer_steps=5, memory_steps=3)
QUICK = dict(batch_sizes=(8,), repeats=2, steps=1, warmup=1, latency_warmup=2, latency_calls=3,
             matmul_sizes=(64, 128), matmul_repeats=2, layer_steps=1, memory_steps=1)


def _positive_ints(text):
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers of at least 1, got {text!r}")
    return values


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=(
        "Measure minicnn against PyTorch, JAX and Keras (and on CUDA where present), each contender "
        "in a process of its own: training and inference throughput, single-image latency, time per "
        "layer, peak memory and the matmul roofline. `minicnn bench` runs the same command."))
    p.add_argument("--quick", action="store_true",
                   help="a tiny run (batch 8, 2 repetitions of 1 step): checks the harness, measures nothing")
    p.add_argument("--models", nargs="+", choices=MODELS, default=None, help="default: lenet convnet")
    p.add_argument("--batch-sizes", nargs="+", type=_positive_ints, default=None,
                   help="training/inference batch sizes (default: 64 256; 64,256 works too)")
    p.add_argument("--repeats", type=int, default=None, help="repetitions per contender, alternating (default 9)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"steps per repetition (default: enough for the fastest contender to run "
                        f">= {harness.TARGET_BLOCK_SECONDS} s)")
    p.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), default=None,
                   help="which contenders to run (default: all but the minicnn-baseline ones, which "
                        "--baseline adds)")
    p.add_argument("--baseline", metavar="DIR", default=None,
                   help="also time minicnn eager and DataParallel imported from the checkout DIR (e.g. an "
                        "older commit), run as the benchmark ran it then: the zoo model, an explicit "
                        "allocator call")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help="folder for latest.md, latest.json and latest.png (default: benchmarks/results)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (fresh processes)")
    return p


def parse(argv):
    """(options, plan, contender names); a bad option ends the program with one line and status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.batch_sizes is not None:
        plan["batch_sizes"] = tuple(b for group in args.batch_sizes for b in group)
    for name in ("repeats", "steps"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                parser.error(f"--{name} must be at least 1, got {value}")
            plan[name] = value
    if args.baseline is not None:
        if not (Path(args.baseline) / "minicnn" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline} is not a minicnn checkout (it has no minicnn/__init__.py)")
        args.baseline = str(Path(args.baseline).resolve())
    names = args.contenders or [n for n in CONTENDERS if n not in BASELINES or args.baseline]
    for name in BASELINES:
        if name in names and not args.baseline:
            parser.error(f"the {name} contender needs --baseline DIR (the checkout to import minicnn from)")
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        parser.error(f"cannot create the output folder {args.out}: {e.strerror}")
    return args, plan, list(dict.fromkeys(names))


def measure_roofline(children, plan):
    """{"cpu"/"gpu": {"gflops": {library: {n: GFLOP/s}}, "limit_gflops", "limit_library"}}."""
    by_device = {}
    for child in children.values():
        gflops = child.ask("matmul", sizes=plan["matmul_sizes"], repeats=plan["matmul_repeats"])["gflops"]
        by_device.setdefault(child.hello["device"], {}).update(gflops)
    roofline = {}
    for device, libs in by_device.items():
        if libs:
            best = max(libs, key=lambda lib: max(libs[lib].values()))
            roofline[device] = dict(gflops=libs, limit_gflops=max(libs[best].values()), limit_library=best)
    return roofline


def measure_model(result, children, model_name, plan, folder, log):
    """Throughput, translation check, time per layer and latency of one model, into ``result``.

    Returns {(model, batch): (network file, data file)} for the memory runs.
    """
    problems = {}
    figures = result["models"][model_name] = model_figures(model_name)
    for batch in plan["batch_sizes"]:
        network, data = write_problem(model_name, batch, folder)
        problems[(model_name, batch)] = (network, data)
        for name, child in children.items():        # what is known only once the model is set up
            result["contenders"][name]["info"].update(child.ask("setup", network=network, data=data))
        log(f"{model_name} batch {batch}: translation check ...")
        result["translation"][f"{model_name}/{batch}"] = harness.check_translation(
            children, network, data, CHECK_STEPS, TRANSLATION_ATOL)
        for task in ("train", "infer"):
            log(f"{model_name} batch {batch}: {task} ...")
            steps, runs = harness.throughput(children, batch, task, plan["repeats"], plan["steps"], plan["warmup"])
            flops = figures["training_flops_per_image" if task == "train" else "forward_flops_per_image"]
            for name, child in children.items():
                limit = result["roofline"].get(child.hello["device"], {}).get("limit_gflops")
                ips = stats.summary(runs[name])
                entry = dict(model=model_name, batch=batch, task=task, contender=name, steps=steps,
                             images_per_second=ips,
                             percent_of_matmul_limit=100 * ips["median"] * flops / (limit * 1e9) if limit else None,
                             peak_memory_mib=None, device_peak_memory_mib=None,
                             ratio_to_pytorch_cpu=stats.ratios(runs[name], runs.get(REFERENCE))
                             if name != REFERENCE else None, baseline=baseline_of(name, runs))
                entry["ratio_to_baseline"] = stats.ratios(runs[name], runs.get(entry["baseline"]))
                result["throughput"].append(entry)
        for name, child in children.items():
            layers = child.ask("layers", steps=plan["layer_steps"])
            if layers:
                log(f"{model_name} batch {batch}: time per layer of {name} ...")
                result["per_layer"].append(dict(contender=name, model=model_name, batch=batch, **layers))
    log(f"{model_name}: single-image latency ...")
    times = harness.latency(children, plan["repeats"], plan["latency_calls"], plan["latency_warmup"])
    for name in children:
        result["latency"].append(dict(
            model=model_name, contender=name, ms=stats.summary(times[name]),
            ratio_to_pytorch_cpu=stats.latency_ratio(times[name], times.get(REFERENCE), plan["repeats"])
            if name != REFERENCE else None))
    return problems


def measure_memory(result, problems, names, plan, baseline, log):
    """Peak training memory of every contender, model and batch (fresh processes, memory.py)."""
    train = {(e["model"], e["batch"], e["contender"]): e for e in result["throughput"] if e["task"] == "train"}
    for (model_name, batch), (network, data) in problems.items():
        log(f"{model_name} batch {batch}: peak memory (one fresh process per contender) ...")
        for name, mem in harness.memory(names, network, data, plan["memory_steps"], baseline).items():
            if "error" in mem:
                log(f"memory of {name}: {mem['error']}")
            result["memory"].append(dict(mem, contender=name, model=model_name, batch=batch))
            entry = train.get((model_name, batch, name))
            if entry is not None:
                entry["peak_memory_mib"] = mem.get("host_peak_mib")
                entry["device_peak_memory_mib"] = mem.get("device_peak_mib")


def main(argv=None):
    """Measure, print the tables, write latest.md/json/png; 0 on success, 1 if a contender failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, plan, names = parse(argv)
    models = args.models or list(MODELS)
    out_dir = Path(args.out)
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:5.0f} s] {msg}", file=sys.stderr, flush=True)

    result = dict(schema="minicnn-benchmark-v2", command=" ".join(["python -m benchmarks"] + argv),
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  pid=os.getpid(), machine=machine_info(harness.ROOT), baseline=args.baseline,
                  settings=dict(plan, models=models, pause_seconds=harness.PAUSE_SECONDS),
                  contenders={}, skipped={}, roofline={}, models={}, translation={},
                  throughput=[], latency=[], per_layer=[], memory=[], memory_method=None)
    log(f"starting {len(names)} contender processes ...")
    children, result["skipped"] = harness.start(names, args.baseline)
    log(f"contenders: {', '.join(children) or 'none'}; skipped: {', '.join(result['skipped']) or 'none'}")
    try:
        if not children:
            raise harness.ChildError("no contender could run here: " + "; ".join(
                f"{n}: {why}" for n, why in result["skipped"].items()))
        result["contenders"] = {n: dict(label=label(n, args.baseline), **c.hello) for n, c in children.items()}
        log("roofline: float32 matrix multiply ...")
        result["roofline"] = measure_roofline(children, plan)
        with tempfile.TemporaryDirectory(prefix="minicnn-bench-") as folder:
            problems = {}
            for model_name in models:
                problems.update(measure_model(result, children, model_name, plan, folder, log))
            for child in children.values():     # before the memory runs: their cores are free
                child.close()
            if not args.no_memory:
                from .memory import METHOD
                result["memory_method"] = METHOD
                measure_memory(result, problems, list(children), plan, args.baseline, log)
    except harness.ChildError as e:
        print(f"python -m benchmarks: error: {e}", file=sys.stderr)
        return 1
    finally:
        for child in children.values():
            child.close()
    result["machine"]["load_average_end"] = load_average()
    result["seconds"] = time.perf_counter() - started
    chart_problem = write_chart(result, out_dir / "latest.png")
    if chart_problem:
        result["chart"] = chart_problem
        log(chart_problem)
    markdown = render_markdown(result)
    (out_dir / "latest.md").write_text(markdown)
    (out_dir / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
    print(markdown)
    log(f"wrote {out_dir / 'latest.md'}, latest.json and latest.png in {result['seconds']:.0f} s")
    return 0
