"""Peak memory of a few training steps, measured inside a fresh contender process (Linux: exact).

The figure is the growth of the resident set size above what the process held after
its imports, its random batch and one throwaway batch-1 step (which lets the library
initialise itself: thread pools, kernels paged in): weights, gradients, optimiser state,
activations and workspaces. Processes the contender started (minicnn DataParallel's
workers) add their private memory.
"""
import gc
import os
import sys

METHOD = ("each contender trains alone in a fresh Python process. After the imports, one throwaway "
          "batch-1 step lets the library initialise itself; then the peak resident set size is reset "
          "(/proc/self/clear_refs) and the figure is the peak (VmHWM) minus the RSS at that moment, over "
          "the network's set-up and the training steps: weights, gradients, momentum, activations and "
          "workspaces, plus the private memory (Private_Dirty) of the processes the contender started. "
          "The JSON's host_peak_with_init_mib also counts the library's first-use initialisation. GPU "
          "contenders add the device memory their allocator reserved (CuPy's pool, "
          "torch.cuda.max_memory_reserved).")


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field} line")


class PeakRss:
    """Peak resident set size since the last ``reset``, in KiB.

    Linux lets a process reset its own high-water mark (VmHWM) to its current RSS by
    writing 5 to /proc/self/clear_refs. Elsewhere ru_maxrss, which cannot be reset,
    is used: growth below an earlier, larger peak is then missed.
    """

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "VmHWM - VmRSS"
        except OSError:
            self.method = "ru_maxrss"
        self.reset()

    def reset(self):
        if self.method == "VmHWM - VmRSS":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.baseline = _status_kib("VmRSS")
        else:
            self.baseline = self._maxrss()

    def _maxrss(self):
        import resource
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib // 1024 if sys.platform == "darwin" else kib    # bytes on macOS

    def peak_mib(self):
        peak = _status_kib("VmHWM") if self.method == "VmHWM - VmRSS" else self._maxrss()
        return max(peak - self.baseline, 0) / 1024


def release_free_memory():
    """Hand freed memory back to the OS (glibc's malloc_trim), so a later peak cannot hide in it."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: the figure may read slightly low
        pass


def children_private_mib():
    """Private memory (Private_Dirty, MiB) of every process this one started, and theirs (Linux)."""
    parents = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])   # the name may hold spaces
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    total, todo = 0, list(parents.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo += parents.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:"))
        except OSError:
            pass
    return total / 1024


def peak_memory(contender, network, x, y, steps):
    """{"host_peak_mib", "host_peak_with_init_mib", "children_mib", "device_peak_mib", "method"}."""
    release_free_memory()
    rss = PeakRss()                             # baseline: after the imports and the batch
    contender.setup(network, x[:1], y[:1])      # the library initialises itself on one image
    contender.set_training(True)
    contender.train_step()
    contender.sync()
    with_init = rss.peak_mib()
    contender.free()
    release_free_memory()
    init_baseline = rss.baseline
    rss.reset()
    contender.setup(network, x, y)
    contender.set_training(True)
    for _ in range(steps):
        contender.train_step()
    contender.sync()
    children = children_private_mib()
    peak = rss.peak_mib() + children
    # never below this peak: trimming may leave the RSS a few pages under the first baseline
    with_init = max(with_init, peak + (rss.baseline - init_baseline) / 1024, peak)
    device = contender.device_peak_bytes()
    return dict(host_peak_mib=peak, host_peak_with_init_mib=with_init, children_mib=children,
                device_peak_mib=None if device is None else device / 2 ** 20, method=rss.method)
