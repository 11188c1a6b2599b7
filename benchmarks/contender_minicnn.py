"""minicnn as a user's script runs it, its named variants, CuPy, and an older checkout (--baseline).

    network="script"   the user's own Sequential: the layers' constructors in the order a
                       learner writes them (Conv2d -> ReLU -> MaxPool2d), then the shared weights
    network="zoo"      the saved zoo model as it is (Conv2d -> MaxPool2d -> ReLU), Sequential.load

ReLU and max pooling commute (max(relu(a), relu(b)) = relu(max(a, b))), so both orders
compute the same function and the translation check holds them to it.
"""
import importlib
import os

import numpy as np

from .contenders import LR, MOMENTUM, Contender, Skip
from .machine import git_describe, numpy_blas
from .network import read_network

NETWORKS = {"script": "Conv2d -> ReLU -> MaxPool2d, the user's own Sequential (the layers' constructors, "
                      "then the shared weights)",
            "zoo": "Conv2d -> MaxPool2d -> ReLU (the zoo model, Sequential.load)"}
ALLOCATOR = {"default": "minicnn's default (set when SGD is created), no call of the benchmark's own",
             "off": "opted out: minicnn.allocator.disable() before training",
             "explicit": "an explicit minicnn.allocator.keep_freed_memory() call, as the benchmark made "
                         "before the setting became minicnn's default"}


class Minicnn(Contender):
    """mode: "eager" (Sequential as written), "dp" (minicnn.DataParallel on the usual workers) or
    "cupy" (eager on the GPU); network: "script" or "zoo" (see above); allocator: "default" or
    "off"; baseline: minicnn comes from the checkout the child was pointed at, run as the benchmark
    of 59705e8 ran it (the zoo model and an explicit allocator call)."""

    def __init__(self, mode, network="script", allocator="default", baseline=False):
        import minicnn
        self.mc, self.mode, self.network = minicnn, mode, network
        self.allocator, self.kept_freed_memory = allocator, None
        if baseline:
            self.network, self.allocator = "zoo", "explicit"
            try:
                module = importlib.import_module("minicnn.allocator")
            except ImportError:                 # minicnn before the allocator module: set on import
                self.kept_freed_memory = getattr(getattr(minicnn, "backend", None), "KEPT_FREED_MEMORY", None)
                self.allocator = "made when minicnn is imported (this minicnn's own behaviour)"
            else:
                self.kept_freed_memory = module.keep_freed_memory()
        elif allocator == "off":
            importlib.import_module("minicnn.allocator").disable()
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
                    numpy=np.__version__, blas=numpy_blas(), network=NETWORKS[self.network],
                    allocator=ALLOCATOR.get(self.allocator, self.allocator))
        if self.mode == "dp":
            # DataParallel's default: one thread per usable core (MAX_THREADS at most), each running
            # chunks of MIN_CHUNK to MAX_CHUNK samples (minicnn/parallel.py)
            parallel = importlib.import_module("minicnn.parallel")
            info.update(workers=parallel.usable_cores(), min_chunk=parallel.MIN_CHUNK,
                        max_chunk=getattr(parallel, "MAX_CHUNK", None))     # None: before MAX_CHUNK
        return info

    def state(self):
        """Whether the allocator keeps freed memory, asked after setup: minicnn decides when SGD is created."""
        if self.allocator in ("default", "off"):
            return dict(kept_freed_memory=importlib.import_module("minicnn.allocator").applied())
        return dict(kept_freed_memory=self.kept_freed_memory)

    def _put(self, a):
        return self.cupy.asarray(a) if self.device == "gpu" else a

    def setup(self, network, x, y):
        model = script_model(self.mc, network) if self.network == "script" else self.mc.Sequential.load(network)
        if self.device == "gpu":
            model.to("gpu")
        self.model = self.mc.DataParallel(model) if self.mode == "dp" else model
        self.loss = self.mc.NLLLoss()
        self.optimizer = self.mc.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = self._put(x), self._put(y)

    def set_training(self, mode):
        self.model.train(mode)

    def train_step(self):             # the README's loop
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
        if self.mode == "cupy":
            ca, cb = self.cupy.asarray(a), self.cupy.asarray(b)
            return {"cupy": (lambda: ca @ cb, self.sync)}
        if self.mode == "eager" and self.network == "script" and self.allocator == "default":
            return {"numpy": (lambda: a @ b, lambda: None)}          # NumPy's speed, measured once
        return {}

    def layer_steps(self):
        if self.mode != "eager" or self.allocator != "default":
            return None
        return list(enumerate(self.model.layers))


def script_order(architecture):
    """Indices of ``architecture``'s layers, each MaxPool2d followed by a ReLU put after that ReLU."""
    order = list(range(len(architecture)))
    for i in range(len(order) - 1):
        if [architecture[order[i]]["type"], architecture[order[i + 1]]["type"]] == ["MaxPool2d", "ReLU"]:
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


def script_model(mc, network):
    """The network as a user's script writes it, ``mc.Sequential(mc.Conv2d(1, 24, 5), mc.ReLU(), ...)``,
    then the shared weights copied in (their names follow the layers' new positions)."""
    architecture, weights = read_network(network)
    order = script_order(architecture)
    model = mc.Sequential(*[getattr(mc, architecture[i]["type"])(**architecture[i]["config"]) for i in order])
    position = {old: new for new, old in enumerate(order)}
    model.load_state_dict({f"{position[int(k.split('.')[0])]}.{k.split('.', 1)[1]}": w for k, w in weights.items()})
    return model
