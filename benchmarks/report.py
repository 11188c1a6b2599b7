"""The Markdown report: machine, contenders, throughput, latency, roofline, memory, time per layer."""
from .contenders import BASELINES


def _table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _ratio(r):
    return "n/a" if r is None else f"{r['of_medians']:.2f}x ({r['paired_min']:.2f}-{r['paired_max']:.2f})"


def _blas_text(blas):
    return ", ".join(f"{b.get('internal_api')} {b.get('version')}"
                     + (f" with its {b['architecture']} kernels" if b.get("architecture") else "")
                     + (f" on {b['num_threads']} threads" if b.get("num_threads") else "") for b in blas) or "?"


def machine_lines(result):
    """The paragraph that says what ran where: CPU, BLAS kernels and threads, the frameworks."""
    m, contenders = result["machine"], result["contenders"]
    env = m.get("blas_environment") or {}
    lines = [f"**CPU:** {m['cpu']}, {m['usable_cores']} usable cores of {m['logical_cores']}"
             + ("" if m.get("memory_gib") is None else f", {m['memory_gib']:.1f} GiB RAM") + f"; {m['os']}, "
             f"Python {m['python']}.",
             f"**NumPy** {m['numpy']}: {_blas_text(m['numpy_blas'])}. Environment: "
             + (", ".join(f"{k}={v}" for k, v in env.items()) if env else "no OPENBLAS_/OMP_/MKL_ variables set")
             + " (recorded, not changed)."]
    for name, c in contenders.items():
        info = c.get("info", {})
        if "torch" in info:
            lines.append(f"**{c['label']}:** PyTorch {info['torch']}, {info['num_threads']} threads "
                         f"({info['num_interop_threads']} inter-op)"
                         + (f", {info['cpu_capability']} CPU kernels" if info.get("cpu_capability") else "")
                         + (f", GPU {info['gpu']} (CUDA {info['cuda']}, TF32 off)" if info.get("gpu") else "") + ".")
        elif "minicnn" in info:
            lines.append(f"**{c['label']}** (`{name}`): minicnn {info.get('minicnn_git') or info['minicnn']} from "
                         f"`{info['minicnn_file']}`"
                         + (f", {info['workers']} workers (chunks of at least {info['min_chunk']} samples"
                            + (f", at most {info['max_chunk']}" if info.get("max_chunk") else "") + ")"
                            if "workers" in info else "")
                         + (f"; network: {info['network']}" if info.get("network") else "")
                         + (f"; allocator setting: {info['allocator']}" if info.get("allocator") else "")
                         + f"; allocator keeps freed memory: {info.get('kept_freed_memory')}.")
        elif "jax" in info:
            lines.append(f"**{c['label']}:** JAX {info['jax']} (jaxlib {info['jaxlib']}), XLA's default threads.")
        elif "tensorflow" in info:
            lines.append(f"**{c['label']}:** Keras {info['keras']} on TensorFlow {info['tensorflow']}, intra-op "
                         f"threads {info['intra_op_threads']}, inter-op {info['inter_op_threads']}.")
    lines.append(f"**Load average** (1, 5, 15 min): {m['load_average_start']} at the start, "
                 f"{m.get('load_average_end')} at the end.")
    return lines


def _throughput_rows(result, names):
    rows = []
    for e in result["throughput"]:
        mem, dev = e.get("peak_memory_mib"), e.get("device_peak_memory_mib")
        ips = e["images_per_second"]
        rows.append([e["model"], e["batch"], e["task"], names[e["contender"]], f"{ips['median']:,.0f}",
                     f"{ips['min']:,.0f}-{ips['max']:,.0f}", _ratio(e["ratio_to_pytorch_cpu"]),
                     "n/a" if e["percent_of_matmul_limit"] is None else f"{e['percent_of_matmul_limit']:.1f}%",
                     "-" if mem is None else f"{mem:.1f}" + ("" if dev is None else f" (+{dev:.1f} on GPU)")])
    return rows


def render_markdown(result):
    s = result["settings"]
    names = {n: c["label"] for n, c in result["contenders"].items()}
    out = ["# minicnn benchmark", "",
           f"`{result['command']}` on {result['date']} (checkout {result['machine'].get('git')}); "
           f"{result['seconds']:.0f} s.", ""]
    out += [line + "  " for line in machine_lines(result)] + [""]
    pids = ", ".join(f"{names[n]} {c['pid']}" for n, c in result["contenders"].items())
    out += [f"Each contender ran in a process of its own (pids: {pids}; the parent "
            f"{result['pid']}). Repetitions: {s['repeats']} per contender, the order reversed every other "
            f"repetition, a {s['pause_seconds']} s pause before each block; steps per repetition: "
            f"{s['steps'] or 'automatic (the fastest contender runs >= 0.3 s)'}. Spread = min-max over "
            "repetitions; in brackets the range of the per-repetition (paired) ratios.", ""]
    out += [f"- skipped **{name}**: {why}" for name, why in result["skipped"].items()]
    out += ["", "## Throughput (images/s)", "",
            _table(["model", "batch", "task", "contender", "img/s (median)", "spread (min-max)",
                    "x PyTorch CPU", "% of matmul limit", "peak memory MiB"], _throughput_rows(result, names))]
    against = [e for e in result["throughput"] if e.get("ratio_to_baseline")]
    if against:
        ran = [names[n] for n in BASELINES if n in names]
        out += ["", f"## Against the baseline ({' and '.join(ran)})", "",
                "The baseline runs minicnn from that checkout as the benchmark ran it before the allocator "
                "setting became minicnn's default: the zoo model (Conv2d -> MaxPool2d -> ReLU) and an explicit "
                "`minicnn.allocator.keep_freed_memory()` call (a minicnn older than that module makes the "
                "setting when imported). DataParallel is compared with the baseline's DataParallel where it "
                "has one, everything else with its eager; the zoo-order rows compare like with like.", "",
                _table(["model", "batch", "task", "contender", "img/s (median)", "against", "x baseline"],
                       [[e["model"], e["batch"], e["task"], names[e["contender"]],
                         f"{e['images_per_second']['median']:,.0f}", names[e["baseline"]],
                         _ratio(e["ratio_to_baseline"])] for e in against])]
    out += ["", "## Single-image latency (batch of 1, eval mode, NumPy in and out)", "",
            _table(["model", "contender", "median ms", "spread (IQR) ms", "speed x PyTorch CPU"],
                   [[e["model"], names[e["contender"]], f"{e['ms']['median']:.3f}",
                     f"{e['ms']['q1']:.3f}-{e['ms']['q3']:.3f}", _ratio(e["ratio_to_pytorch_cpu"])]
                    for e in result["latency"]])]
    out += ["", "## Roofline and the networks", ""]
    for device, r in result["roofline"].items():
        libs = "; ".join(f"{lib}: " + ", ".join(f"{n}^2 {g:.1f}" for n, g in sizes.items())
                         for lib, sizes in r["gflops"].items())
        out.append(f"- {device} float32 matmul GFLOP/s ({libs}); limit = {r['limit_gflops']:.1f} "
                   f"({r['limit_library']})")
    for name, f in result["models"].items():
        out.append(f"- {name}: {f['forward_flops_per_image']:,} forward FLOPs per image, training = 3 x "
                   f"forward = {f['training_flops_per_image']:,}; {f['parameters']:,} parameters")
    worst = max((max(d.values()) for diffs in result["translation"].values() for d in diffs.values()), default=0)
    out.append(f"- translation check: every contender's log-probabilities and first losses within "
               f"{worst:.2g} of {next(iter(names.values()), '?')}'s before timing")
    if result["memory"]:
        out += ["", f"Peak memory (training): {result['memory_method']}"]
        out += [f"- {e['contender']} {e['model']} batch {e['batch']}: {e['error']}"
                for e in result["memory"] if "error" in e]
    for entry in result["per_layer"]:
        out += ["", f"## Time per layer: {names[entry['contender']]}, {entry['model']}, batch {entry['batch']} "
                    f"(median of {entry['steps']} training steps)", ""]
        step = entry["step_ms"]
        rows = [[r["layer"], f"{r['forward_ms']:.2f}", f"{r['backward_ms']:.2f}",
                 f"{100 * (r['forward_ms'] + r['backward_ms']) / step:.0f}%"] for r in entry["rows"]]
        for what, ms in (("NLLLoss forward + backward", entry["loss_ms"]), ("SGD step", entry["optimizer_ms"]),
                         ("other (Python, zero_grad, timers)", entry["other_ms"])):
            rows.append([what, f"{ms:.2f}", "", f"{100 * ms / step:.0f}%"])
        rows.append(["**whole step**", f"{step:.2f}", "", "100%"])
        out.append(_table(["layer", "forward ms", "backward ms", "share"], rows))
    return "\n".join(out) + "\n"

