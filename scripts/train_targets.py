"""Run the three accuracy targets of minicnn and record what they print.

    python scripts/train_targets.py                 # all three, one after the other
    python scripts/train_targets.py mnist fashion   # some of them

Each target is the `minicnn train` command shown below, run as a user would run it
(in a scratch folder, so the saved models do not land in the repository). Its output,
exit status and wall time are appended to scripts/results/targets.txt together with
the machine (CPU count, load average before and after: these machines are shared, and
the wall time depends on what else runs).

Targets:
    mnist      `minicnn train` with no flags: >= 99.0% test accuracy (lenet, NumPy, SGD + momentum),
               aiming at 99.3% within 60 s of training
    quickdraw  lenet on the ten local Quick, Draw! categories: the test accuracy is reported
    fashion    convnet on Fashion-MNIST: >= 91% test accuracy
Each command holds out 5,000 training images for validation (its settings were chosen on
those) and measures the test accuracy once, after training.
"""
import argparse
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))      # benchmarks/ is a folder of the checkout, not of the package
from benchmarks.machine import cpu_name  # noqa: E402
RESULTS = ROOT / "scripts" / "results" / "targets.txt"

# name: (extra flags after `minicnn train`, the accuracy it must reach or None to only report)
TARGETS = {
    "mnist": ([], 99.0),
    "quickdraw": (["--dataset", "quickdraw", "--model", "lenet", "--epochs", "5"], None),
    "fashion": (["--dataset", "fashion-mnist", "--model", "convnet", "--epochs", "8",
                 "--batch-size", "64"], 91.0),
}


def cpu_name():
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine():
    return f"{os.cpu_count()} CPU cores ({cpu_name()}), Python {platform.python_version()}"


def load():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run_target(name, log):
    flags, goal = TARGETS[name]
    command = ["minicnn", "train", *flags, "--no-progress"]
    env = dict(os.environ)
    env.setdefault("MINICNN_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    env["MINICNN_DATA_DIR"] = os.path.abspath(env["MINICNN_DATA_DIR"])  # the command runs in a scratch folder
    header = (f"== {name}: {shlex.join(command)}\n"
              f"started {datetime.datetime.now().isoformat(timespec='seconds')}, "
              f"MINICNN_DATA_DIR={env['MINICNN_DATA_DIR']}, load average {load()}\n")
    print(header, end="", flush=True)
    log.write(header)
    lines = []
    with tempfile.TemporaryDirectory(prefix=f"minicnn-{name}-") as scratch:
        start = time.perf_counter()
        # `python -m minicnn` is the `minicnn` command without relying on PATH.
        proc = subprocess.Popen([sys.executable, "-m", "minicnn", *command[1:]], cwd=scratch,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        for line in proc.stdout:
            print(line, end="", flush=True)
            log.write(line)
            log.flush()
            lines.append(line)
        code = proc.wait()
        wall = time.perf_counter() - start
    match = re.search(r"test accuracy, measured once after training: ([\d.]+)%", "".join(lines))
    accuracy = float(match.group(1)) if match else None
    verdict = ("no accuracy printed" if accuracy is None else
               "reported" if goal is None else
               f"target {goal}%: {'MET' if accuracy >= goal else 'MISSED'}")
    footer = (f"exit status {code}, wall time {wall:.0f} s ({wall / 60:.1f} min), "
              f"load average after {load()}; {verdict}\n\n")
    print(footer, end="", flush=True)
    log.write(footer)
    return code == 0 and (goal is None or (accuracy is not None and accuracy >= goal))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"which targets to run: {', '.join(TARGETS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}: expected one of {', '.join(TARGETS)}")
    names = args.targets or list(TARGETS)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as log:
        log.write(f"# {datetime.datetime.now().isoformat(timespec='seconds')} on {machine()}, "
                  f"git {git_revision()}\n")
        ok = [run_target(name, log) for name in names]
    return 0 if all(ok) else 1


def git_revision():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
