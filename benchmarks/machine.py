"""What the numbers depend on: the CPU, its cores and memory, NumPy's BLAS, the environment.

Recorded, never changed: the benchmark runs with the environment it is given.
The contenders' own settings (PyTorch's threads and kernels, ...) come from their processes.
"""
import os
import platform
import subprocess

import numpy as np

BLAS_VARIABLES = ("OPENBLAS_", "OMP_", "MKL_", "GOTO_", "BLIS_")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_name():
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module says."""
    return next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                 if line.startswith("model name")), platform.processor() or platform.machine())


def load_average():
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def numpy_blas():
    """[{library, version, kernels ("architecture"), threads, threading layer}] for NumPy's BLAS."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        return [{"internal_api": blas.get("name"), "version": blas.get("version"),
                 "note": "threadpoolctl is not installed: kernels and threads unknown"}]
    return [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                   "threading_layer")}
            for p in threadpool_info() if p.get("user_api") == "blas"]


def git_describe(folder):
    """`git describe --always --dirty` of the checkout ``folder`` is in, or None."""
    try:
        proc = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=folder, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def machine_info(root):
    """CPU, cores, memory, OS, Python, NumPy and its BLAS, BLAS/OpenMP variables, load, git."""
    mem = next((int(line.split()[1]) / 2 ** 20 for line in _read("/proc/meminfo").splitlines()
                if line.startswith("MemTotal:")), None)
    return dict(
        cpu=cpu_name(), logical_cores=os.cpu_count(),
        usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        memory_gib=mem, os=platform.platform(), python=platform.python_version(),
        numpy=np.__version__, numpy_blas=numpy_blas(),
        blas_environment={k: v for k, v in sorted(os.environ.items()) if k.startswith(BLAS_VARIABLES)},
        git=git_describe(root), load_average_start=load_average())
