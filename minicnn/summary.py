"""A network's summary table: each layer's output shape, parameter count and FLOPs."""
import math

import numpy as np

from .backend import asarray
from .layers.module import no_grad


def summary_rows(model, input_shape):
    """[(name, output shape, parameter count, forward FLOPs per sample or None)] per layer, for one sample of
    ``input_shape`` (1, 28, 28), say; a multiply-add is 2 FLOPs; a layer without ``output_shape`` runs on zeros."""
    shape = tuple(int(s) for s in input_shape)
    layers = list(model.named_children()) if hasattr(model, "layers") else [(type(model).__name__, model)]
    rows = []
    for name, layer in layers:
        label = f"{name}: {type(layer).__name__}" if hasattr(model, "layers") else name
        if hasattr(layer, "output_shape"):
            try:
                out = tuple(layer.output_shape(shape))
                _check_fits(layer, shape)
            except (ValueError, TypeError) as e:
                raise ValueError(f"summary: layer {name} ({layer!r}) cannot take input shape {shape}: {e}") from e
            flops = int(layer.flops(shape, out))
        else:
            out, flops = _shape_by_running(layer, shape, name), None
        n_params = sum(math.prod(p.shape) for p in layer.parameters())
        rows.append((label, out, n_params, flops))
        shape = out
    return rows


def summary(model, input_shape):
    """Print the table of ``summary_rows``, with totals."""
    rows = summary_rows(model, input_shape)
    header = f"{'layer':<18}{'output shape':<18}{'params':>10}{'FLOPs':>14}"
    lines = [header, "-" * len(header), f"{'input':<18}{str(tuple(input_shape)):<18}{'':>10}{'':>14}"]
    for name, out, n_params, flops in rows:
        lines.append(f"{name:<18}{str(out):<18}{n_params:>10,}{'?' if flops is None else f'{flops:,}':>14}")
    lines.append("-" * len(header))
    known = sum(r[3] for r in rows if r[3] is not None)
    lines.append(f"{'total':<36}{sum(r[2] for r in rows):>10,}{known:>14,}")
    unknown = [r[0] for r in rows if r[3] is None]
    if unknown:
        lines.append(f"? {', '.join(unknown)} define no output_shape(input_shape) and flops(input_shape, "
                     "output_shape): the shape was found by running the layer on one sample of zeros, "
                     "its FLOPs are left out of the total")
    print("\n".join(lines))


def _check_fits(layer, shape):
    if hasattr(layer, "in_features") and shape != (layer.in_features,):
        raise ValueError(f"{type(layer).__name__} expected {layer.in_features} input features, received shape {shape}")
    for attr in ("in_channels", "num_features"):
        if hasattr(layer, attr) and shape[0] != getattr(layer, attr):
            raise ValueError(f"{type(layer).__name__} expected {getattr(layer, attr)} input channels, "
                             f"received shape {shape}")


def _shape_by_running(layer, shape, name):
    dtype = next((p.data.dtype for p in layer.parameters()), np.dtype("float32"))
    was_training = layer.training
    try:
        with no_grad():
            return tuple(layer.eval().forward(asarray(np.zeros((1,) + shape, dtype))).shape[1:])
    except Exception as e:                            # noqa: BLE001 - the learner's layer refused
        raise ValueError(f"summary: layer {name} ({type(layer).__name__}) has no output_shape(input_shape), "
                         f"and running it on one sample of shape {shape} failed: {type(e).__name__}: {e}") from None
    finally:
        layer.train(was_training)
