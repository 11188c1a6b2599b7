"""latest.png: every contender's speed relative to PyTorch CPU (1.0 = as fast), with paired ranges."""
from .contenders import REFERENCE


def write_chart(result, path):
    """Draw the chart into ``path``; return None, or why no chart was drawn (matplotlib missing)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return 'matplotlib is not installed (pip install -e ".[viz]"): no chart'
    names = {n: c["label"] for n, c in result["contenders"].items() if n != REFERENCE}
    groups = [("train", "training throughput"), ("infer", "inference throughput"), ("latency", "latency")]
    fig = Figure(figsize=(13, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (task, title) in zip(axes, groups):
        entries = result["latency"] if task == "latency" else [e for e in result["throughput"] if e["task"] == task]
        keys = list(dict.fromkeys((e["model"], e.get("batch")) for e in entries))
        width = 0.8 / max(len(names), 1)
        for j, name in enumerate(names):
            ratio = {(e["model"], e.get("batch")): e["ratio_to_pytorch_cpu"] for e in entries
                     if e["contender"] == name}
            xs = [i for i, k in enumerate(keys) if ratio.get(k)]
            if not xs:
                continue
            mids = [ratio[keys[i]]["of_medians"] for i in xs]
            # latency's overall median can fall outside the per-repetition range: clip the bars at 0
            lo = [max(m - ratio[keys[i]]["paired_min"], 0.0) for m, i in zip(mids, xs)]
            hi = [max(ratio[keys[i]]["paired_max"] - m, 0.0) for m, i in zip(mids, xs)]
            ax.bar([i - 0.4 + width * (j + 0.5) for i in xs], mids, width, yerr=[lo, hi], capsize=3,
                   label=names[name])
        ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
        ax.set_xticks(range(len(keys)), [m if b is None else f"{m}\nbatch {b}" for m, b in keys])
        ax.set_title(title)
        ax.set_ylabel("speed relative to PyTorch CPU (higher is faster)")
    if REFERENCE in result["contenders"]:
        axes[0].legend(loc="upper left", fontsize=8)
        fig.suptitle(f"minicnn benchmark, {result['machine']['cpu']} ({result['date'][:10]})")
    else:
        fig.suptitle("PyTorch CPU was not available: no ratios to draw")
    fig.savefig(path, dpi=110)
    return None
