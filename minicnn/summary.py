"""A Sequential's summary table: each layer's output shape, parameter count and FLOPs."""
import math

from .layers import Conv2d, Linear


def summary_rows(model, input_shape):
    """[(name, output shape, parameter count, forward FLOPs per sample)], one row per layer.

    input_shape: one sample's shape, e.g. (1, 28, 28). A multiply-add counts as 2 FLOPs.
    """
    shape = tuple(int(s) for s in input_shape)
    rows = []
    for i, layer in enumerate(model.layers):
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
        n_params = sum(math.prod(p.shape) for p in layer.parameters())
        rows.append((f"{i}: {type(layer).__name__}", out, n_params, int(layer.flops(shape, out))))
        shape = out
    return rows


def summary(model, input_shape):
    """Print the table of ``summary_rows``, with totals."""
    rows = summary_rows(model, input_shape)
    header = f"{'layer':<18}{'output shape':<18}{'params':>10}{'FLOPs':>14}"
    lines = [header, "-" * len(header),
             f"{'input':<18}{str(tuple(input_shape)):<18}{'':>10}{'':>14}"]
    for name, out, n_params, flops in rows:
        lines.append(f"{name:<18}{str(out):<18}{n_params:>10,}{flops:>14,}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<36}{sum(r[2] for r in rows):>10,}{sum(r[3] for r in rows):>14,}")
    print("\n".join(lines))
