"""minicnn: the plain eager Sequential, DataParallel, CuPy, and an older checkout (--baseline)."""
import importlib
import os

import numpy as np

from .contenders import LR, MOMENTUM, Contender, Skip
from .machine import git_describe, numpy_blas


class Minicnn(Contender):
    """mode: "eager" (Sequential as written), "dp" (minicnn.DataParallel on the usual workers),
    "cupy" (eager on the GPU) or "baseline" (eager, from the checkout the child was pointed at)."""

    def __init__(self, mode):
        import minicnn
        self.mc, self.mode = minicnn, mode
        # The allocator setting is an explicit call (minicnn.allocator); older minicnn made it
        # when imported, so there is nothing to call there.
        try:
            allocator = importlib.import_module("minicnn.allocator")
        except ImportError:
            self.kept_freed_memory = getattr(getattr(minicnn, "backend", None), "KEPT_FREED_MEMORY", None)
        else:
            self.kept_freed_memory = allocator.keep_freed_memory()
        if mode == "dp" and not hasattr(minicnn, "DataParallel"):
            raise Skip("minicnn.DataParallel is not available in this minicnn")
        if mode == "cupy":
            try:
                minicnn.set_backend("cupy")
            except RuntimeError as e:
                raise Skip(f"minicnn.set_backend('cupy') failed: {e}") from None
            import cupy
            self.cupy, self.device = cupy, "gpu"

    def info(self):
        info = dict(minicnn=self.mc.__version__, minicnn_file=self.mc.__file__,
                    minicnn_git=git_describe(os.path.dirname(self.mc.__file__)),
                    numpy=np.__version__, kept_freed_memory=self.kept_freed_memory, blas=numpy_blas())
        if self.mode == "dp":         # DataParallel's default: one chunk per usable core
            parallel = importlib.import_module("minicnn.parallel")
            info.update(workers=parallel.usable_cores(), min_chunk=parallel.MIN_CHUNK)
        return info

    def _put(self, a):
        return self.cupy.asarray(a) if self.device == "gpu" else a

    def setup(self, network, x, y):
        model = self.mc.Sequential.load(network)
        if self.device == "gpu":
            model.to("gpu")
        self.model = self.mc.DataParallel(model) if self.mode == "dp" else model
        self.loss = self.mc.NLLLoss()
        self.optimizer = self.mc.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = self._put(x), self._put(y)

    def set_training(self, mode):
        self.model.train(mode)

    def train_step(self):
        self.optimizer.zero_grad()
        loss = self.loss.forward(self.model.forward(self.x), self.y)     # a float, like loss.item()
        self.model.backward(self.loss.backward(), input_grad=False)      # no gradient for the images
        self.optimizer.step()
        return loss

    def infer_step(self):
        self.model.forward(self.x)

    def predict(self, images):
        return self.mc.to_numpy(self.model.forward(self._put(images)))

    def sync(self):
        if self.device == "gpu":
            self.cupy.cuda.get_current_stream().synchronize()

    def free(self):
        self.model = self.loss = self.optimizer = self.x = self.y = None
        if self.device == "gpu":
            self.cupy.get_default_memory_pool().free_all_blocks()

    def device_peak_bytes(self):
        if self.device == "cpu":
            return None
        return int(self.cupy.get_default_memory_pool().total_bytes())  # it only grows: the peak since free()

    def matmul_kernels(self, a, b):
        if self.mode == "eager":
            return {"numpy": (lambda: a @ b, lambda: None)}
        if self.mode == "cupy":
            ca, cb = self.cupy.asarray(a), self.cupy.asarray(b)
            return {"cupy": (lambda: ca @ cb, self.sync)}
        return {}

    def layer_steps(self):
        if self.mode != "eager":
            return None
        return list(enumerate(self.model.layers))

