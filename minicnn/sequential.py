"""Sequential: layers in a row, plus saving, loading and a summary table."""
import copy
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import get_array_module, is_gpu_array, to_numpy
from .layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .layers.module import Module, Parameter
from . import processes
from .threads import SharedDraw, chunk_bounds, one_blas_thread, run_chunks

LAYER_TYPES = {cls.__name__: cls for cls in
               (Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear, LogSoftmax, Dropout)}
FORMAT = "minicnn-sequential-v1"


class Sequential(Module):
    """Apply layers in order; backward runs them in reverse.

    One exception, which changes no number: a ReLU written just before a MaxPool2d
    runs after it (``pool_before_relu`` below, ``execution_order()``).
    """

    # Speed, with the same numbers: a ReLU directly followed by a MaxPool2d runs after it
    # instead. Max pooling keeps each window's largest number and ReLU only clips numbers
    # below 0, so maxpool(relu(x)) == relu(maxpool(x)); the gradients agree too (each
    # window's first maximum gets the gradient when it is above 0, no other pixel does).
    # Run second, the ReLU sees a quarter of the numbers (2x2 windows): training steps of lenet
    # and convnet ran 1.04-1.09x as fast (benchmarks/pool_before_relu.py). False runs the layers
    # as written.
    pool_before_relu = True

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential layer {i} is a {type(layer).__name__}, not a minicnn layer")
        self.layers = list(layers)
        self.metadata = {}
        self._steps = None    # [(index, layer)] in the order the last forward ran them
        self._chunks = None   # (bounds, per-chunk [(index, layer)]) while a split batch awaits its backward

    def __getstate__(self):
        # Copies and pickles leave out the last split batch: worker processes cannot be copied.
        return {k: v for k, v in vars(self).items() if k not in ("_steps", "_chunks")}

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def execution_order(self):
        """The layer indices in the order forward runs them; backward runs the reverse.

        range(len(self)), except that a ReLU directly followed by a MaxPool2d swaps
        with it (see ``pool_before_relu``). Exactly these two classes: a subclass may
        compute something else.
        """
        order = list(range(len(self.layers)))
        if self.pool_before_relu:
            for k in range(len(order) - 1):
                if type(self.layers[order[k]]) is ReLU and type(self.layers[order[k + 1]]) is MaxPool2d:
                    order[k], order[k + 1] = order[k + 1], order[k]
        return order

    def forward(self, x):
        """Run the layers in order. On a multi-core CPU a batch of 64 or more (32 per chunk) is cut into
        one chunk per core for the leading layers that treat samples independently (threads.py)."""
        self._chunks = None
        steps = self._steps = [(i, self.layers[i]) for i in self.execution_order()]
        bounds = chunk_bounds(len(x)) if hasattr(x, "ndim") and x.ndim and not is_gpu_array(x) else [(0, 0)]
        depth = self._split_depth(steps) if len(bounds) > 1 else 0
        if depth == 0:
            return _forward_steps(steps, x)
        chunked = self._forward_chunks
        if processes.available():    # workers take minicnn's own layers, up to the first random one
            usable = processes.usable_depth(steps[:depth], x)
            if usable:
                depth, chunked = usable, self._forward_in_processes
        with one_blas_thread():      # a big batch on a multi-core CPU: one chunk per core
            return _forward_steps(steps[depth:], chunked(x, bounds, steps[:depth]))

    def backward(self, grad_output, input_grad=True):
        """Backpropagate dL/d(output) through every layer; return dL/d(input).

        With ``input_grad=False`` (what training uses) the first layer skips
        computing a gradient that nothing would read, and None is returned.
        """
        steps = getattr(self, "_steps", None) or [(i, self.layers[i]) for i in self.execution_order()]
        first = steps[0][0] if steps else None      # the layer whose input is the model's input
        if getattr(self, "_chunks", None) is None:
            return _backward_steps(steps, grad_output, input_grad, first)
        bounds, stacks, in_workers = self._chunks
        with one_blas_thread():
            grad_output = _backward_steps(steps[len(stacks[0]):], grad_output, input_grad, first)
            if in_workers is not None:
                return self._backward_in_processes(grad_output, input_grad, first, bounds, stacks[0], in_workers)
            return self._backward_chunks(grad_output, input_grad, first, bounds, stacks)

    # -- one chunk of the batch per CPU core (see threads.py for why) -----------------
    def _split_depth(self, steps=None):
        """How many leading layers (in execution order) treat every sample on its own
        (and can run on chunks)."""
        steps = [(i, self.layers[i]) for i in self.execution_order()] if steps is None else steps
        depth = 0
        while depth < len(steps) and getattr(steps[depth][1], "batch_independent", False):
            depth += 1
        return depth

    def _forward_chunks(self, x, bounds, head):
        """The layers of ``head`` ([(index, layer)]) on each chunk of x at once; the outputs joined again.

        Chunk 0 runs on the layers themselves. Every other chunk runs on twins:
        shallow copies with their own cache and their own Parameter objects that
        share the same weight arrays (so each chunk's gradient lands in its own .grad).
        """
        stacks = [head] + [[(i, _twin(layer)) for i, layer in head] for _ in bounds[1:]]
        for k, (_, layer) in enumerate(head):               # random layers share one draw per batch
            if getattr(layer, "draws_random", False):
                shared = SharedDraw(len(x))
                for stack, (lo, hi) in zip(stacks, bounds):
                    stack[k][1].chunk_draw = (shared, lo, hi)

        def run(j):
            lo, hi = bounds[j]
            return _forward_steps(stacks[j], x[lo:hi])      # x[lo:hi]: (chunk, ...) a view, no copy

        try:
            outputs = run_chunks(run, len(bounds))
        finally:
            for _, layer in head:                            # the twins go; the layers forget the draw
                vars(layer).pop("chunk_draw", None)
        self._chunks = (bounds, stacks, None)
        return get_array_module(x).concatenate(outputs)    # (N, ...)

    def _backward_chunks(self, grad_output, input_grad, first, bounds, stacks):
        def run(j):
            lo, hi = bounds[j]
            return _backward_steps(stacks[j], grad_output[lo:hi], input_grad, first)

        grads = run_chunks(run, len(bounds))
        for k, (_, layer) in enumerate(stacks[0]):          # weight gradient = sum over chunks
            for name, p in layer.named_parameters():
                for stack in stacks[1:]:
                    twin_grad = getattr(stack[k][1], name).grad
                    p.grad = twin_grad if p.grad is None else p.grad + twin_grad
        if grads[0] is None:                                 # input_grad=False
            return None
        return get_array_module(grads[0]).concatenate(grads)

    # -- the same, with chunks 1.. in worker processes (see processes.py for why) ----------
    def _forward_in_processes(self, x, bounds, head):
        try:
            workers, key, weights, chunks = processes.workers_for(self, head, x, bounds)
        except (ValueError, TypeError):                  # x does not fit the layers: let them say how
            return _forward_steps(head, x)
        except OSError:                                  # no shared memory to be had: threads instead
            return self._forward_chunks(x, bounds, head)
        block = processes.Block(workers.shm.buf)
        for p, spec in zip(processes.parameters(head), weights):
            block.view(spec)[...] = p.data
        for (lo, hi), specs in zip(bounds[1:], chunks):
            block.view(specs["x"])[...] = x[lo:hi]
        with workers.step():                             # interrupted or failed: the workers start afresh
            workers.send([("forward", key, [layer.training for _, layer in head])] * len(chunks))
            out = _forward_steps(head, x[bounds[0][0]:bounds[0][1]])   # chunk 0, here
            workers.wait()
        self._chunks = (bounds, [head], (workers, key, chunks))
        return np.concatenate([out] + [block.view(specs["out"]) for specs in chunks])   # (N, ...)

    def _backward_in_processes(self, grad_output, input_grad, first, bounds, head, in_workers):
        workers, key, chunks = in_workers
        block = processes.Block(workers.shm.buf)
        for (lo, hi), specs in zip(bounds[1:], chunks):
            block.view(specs["g"])[...] = grad_output[lo:hi]
        with workers.step():
            workers.send([("backward", key, input_grad)] * len(chunks))
            dx = _backward_steps(head, grad_output[bounds[0][0]:bounds[0][1]], input_grad, first)
            workers.wait()
        for k, p in enumerate(processes.parameters(head)):                   # weight gradient = sum over chunks
            for specs in chunks:
                p.grad = p.grad + block.view(specs["grads"][k])
        if dx is None:                                   # input_grad=False
            return None
        return np.concatenate([dx] + [block.view(specs["dx"]) for specs in chunks])

    def named_parameters(self):
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def train(self, mode=True):
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def to(self, device=None, dtype=None):
        for layer in self.layers:
            layer.to(device, dtype)
        self._steps = self._chunks = None
        return self

    def __repr__(self):
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    # -- state ------------------------------------------------------------------------
    def state_dict(self):
        """{"0.weight": array, "0.bias": array, ...}, PyTorch's naming."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters; names and shapes must match exactly."""
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing or 'nothing'}, "
                             f"unexpected {unexpected or 'nothing'}")
        for name, p in params.items():
            value = state[name]
            if tuple(value.shape) != tuple(p.data.shape):
                raise ValueError(f"parameter {name!r} has shape {tuple(p.data.shape)} in the model "
                                 f"but {tuple(value.shape)} in the state dict")
        for name, p in params.items():
            xp = get_array_module(p.data)
            p.data = xp.array(to_numpy(state[name]), dtype=p.data.dtype)  # a copy on the model's device
            p.grad = None

    def architecture(self):
        return [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers]

    # -- files --------------------------------------------------------------------------
    def save(self, path, metadata=None):
        """Write architecture and weights to a .npz (no pickle), atomically.

        The file is written next to ``path`` under a temporary name, read back
        and checked, and only then renamed over ``path``.
        """
        for i, layer in enumerate(self.layers):
            if type(layer).__name__ not in LAYER_TYPES:
                raise ValueError(f"cannot save layer {i} ({type(layer).__name__}): only minicnn's "
                                 f"built-in layers can be saved ({', '.join(LAYER_TYPES)})")
        meta = dict(self.metadata)
        meta.update(metadata or {})
        for key, value in meta.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise ValueError(f"cannot save metadata {key!r}: its value ({type(value).__name__}) "
                                 "is not JSON (use lists, numbers, strings, dicts)") from None
        header = {"format": FORMAT, "architecture": self.architecture(), "metadata": meta}
        arrays = {name: to_numpy(a) for name, a in self.state_dict().items()}
        arrays["__header__"] = np.array(json.dumps(header))
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            _, state = _read_checkpoint(tmp)          # verify before it replaces anything
            if set(state) != set(arrays) - {"__header__"}:
                raise OSError(f"checkpoint {tmp} did not read back correctly")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        self.metadata = meta
        return path

    @classmethod
    def load(cls, path):
        """Rebuild a Sequential saved by ``save`` (architecture and weights)."""
        header, state = _read_checkpoint(path)
        layers = []
        for i, spec in enumerate(header["architecture"]):
            layer_cls = LAYER_TYPES.get(spec.get("type"))
            if layer_cls is None:
                raise ValueError(f"{path}: layer {i} has unknown type {spec.get('type')!r}")
            try:
                layers.append(layer_cls(**spec.get("config", {})))
            except TypeError as e:
                raise ValueError(f"{path}: layer {i} ({spec['type']}) has a bad config: {e}") from e
        model = cls(*layers)
        for name, p in model.named_parameters():  # keep the saved dtype (float64 stays float64)
            if name in state and state[name].dtype.kind == "f":
                p.data = p.data.astype(state[name].dtype)
        try:
            model.load_state_dict(state)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        model.metadata = header.get("metadata", {})
        return model

    def load_weights(self, path):
        """Load the weights of a checkpoint into this model; the architectures must match."""
        header, state = _read_checkpoint(path)
        mine, theirs = self.architecture(), header["architecture"]
        for i in range(max(len(mine), len(theirs))):
            a = mine[i] if i < len(mine) else None
            b = theirs[i] if i < len(theirs) else None
            if a != b:
                raise ValueError(f"{path}: layer {i} is {_describe(b)} in the checkpoint "
                                 f"but {_describe(a)} in the model")
        try:
            self.load_state_dict(state)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        self.metadata = header.get("metadata", {})
        return self

    # -- summary --------------------------------------------------------------------------
    def summary_rows(self, input_shape):
        """[(name, output shape, parameter count, forward FLOPs per sample)], one per layer."""
        shape = tuple(int(s) for s in input_shape)
        rows = []
        for i, layer in enumerate(self.layers):
            try:
                out = tuple(layer.output_shape(shape))
            except (ValueError, TypeError) as e:
                raise ValueError(f"summary: layer {i} ({layer!r}) cannot take input shape {shape}: {e}") from e
            if isinstance(layer, Linear) and shape != (layer.in_features,):
                raise ValueError(f"summary: layer {i} Linear expected {layer.in_features} input features, "
                                 f"received shape {shape}")
            if isinstance(layer, Conv2d) and shape[0] != layer.in_channels:
                raise ValueError(f"summary: layer {i} Conv2d expected {layer.in_channels} input channels, "
                                 f"received shape {shape}")
            n_params = sum(int(np.prod(p.shape)) for p in layer.parameters())
            rows.append((f"{i}: {type(layer).__name__}", out, n_params, int(layer.flops(shape, out))))
            shape = out
        return rows

    def summary(self, input_shape):
        """Print each layer's output shape, parameter count and forward FLOPs (one sample)."""
        rows = self.summary_rows(input_shape)
        header = f"{'layer':<18}{'output shape':<18}{'params':>10}{'FLOPs':>14}"
        lines = [header, "-" * len(header),
                 f"{'input':<18}{str(tuple(input_shape)):<18}{'':>10}{'':>14}"]
        for name, out, n_params, flops in rows:
            lines.append(f"{name:<18}{str(out):<18}{n_params:>10,}{flops:>14,}")
        lines.append("-" * len(header))
        lines.append(f"{'total':<36}{sum(r[2] for r in rows):>10,}{sum(r[3] for r in rows):>14,}")
        print("\n".join(lines))


def _forward_steps(steps, x):
    for i, layer in steps:
        try:
            x = layer.forward(x)
        except ValueError as e:  # say which layer of the model refused its input
            raise ValueError(f"Sequential layer {i}: {e}") from None
    return x


def _backward_steps(steps, grad_output, input_grad, first):
    """Backward through ``steps`` ([(index, layer)]) in reverse. The layer at index ``first``
    is told to skip its input gradient when ``input_grad`` is False."""
    for i, layer in reversed(steps):
        if i == first and not input_grad and hasattr(layer, "needs_input_grad"):
            layer.needs_input_grad = False
            try:
                grad_output = layer.backward(grad_output)
            finally:
                layer.needs_input_grad = True
        else:
            grad_output = layer.backward(grad_output)
    return grad_output


def _twin(layer):
    """A copy of ``layer`` for another chunk: its own cache and .grad, the same weight arrays."""
    twin = copy.copy(layer)
    for name, p in layer.named_parameters():
        setattr(twin, name, Parameter(p.data))
    return twin


def _describe(spec):
    if spec is None:
        return "absent"
    args = ", ".join(f"{k}={v}" for k, v in spec.get("config", {}).items())
    return f"{spec.get('type')}({args})"


def _read_checkpoint(path):
    """(header, {name: numpy array}) from a .npz written by save; never unpickles."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a .npz archive")
        with f:
            if "__header__" not in f.files:
                raise ValueError("it has no minicnn header")
            header = json.loads(str(f["__header__"]))
            state = {k: f[k] for k in f.files if k != "__header__"}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable minicnn checkpoint (truncated, foreign or "
                         f"pickled files are refused): {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a minicnn checkpoint (format {header.get('format')!r}, "
                         f"expected {FORMAT!r})" if isinstance(header, dict) else
                         f"{path} is not a minicnn checkpoint")
    return header, state
