"""JAX on the CPU: the network as one pure function, its training step compiled by jax.jit (XLA)."""
import numpy as np

from .contenders import LR, MOMENTUM, SEED, Contender, Skip
from .network import read_network


def to_jax(architecture, weights):
    """(params, apply): the network as a JAX function, with a copy of the weights (float32).

    ``apply(params, x, train, key)`` maps an NCHW batch (N, C, H, W) to the network's output;
    ``params`` holds one dict of arrays per layer (empty for layers without weights).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    steps, params = [], []
    for i, spec in enumerate(architecture):
        kind, cfg = spec["type"], spec["config"]
        if kind == "Conv2d":
            (sh, sw), (ph, pw) = cfg["stride"], cfg["padding"]

            def conv(h, p, train, key, sh=sh, sw=sw, ph=ph, pw=pw):
                h = lax.conv_general_dilated(h, p["weight"], (sh, sw), [(ph, ph), (pw, pw)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
                return h + p["bias"][None, :, None, None] if "bias" in p else h
            steps.append(conv)
        elif kind in ("MaxPool2d", "AvgPool2d"):
            (kh, kw), (sh, sw), (ph, pw) = cfg["kernel_size"], cfg["stride"], cfg["padding"]
            window, strides, pads = (1, 1, kh, kw), (1, 1, sh, sw), [(0, 0), (0, 0), (ph, ph), (pw, pw)]
            if kind == "MaxPool2d":
                steps.append(lambda h, p, train, key, w=window, s=strides, q=pads:
                             lax.reduce_window(h, -jnp.inf, lax.max, w, s, q))
            else:   # padded zeros count in the mean, as in minicnn and PyTorch's default
                steps.append(lambda h, p, train, key, w=window, s=strides, q=pads, n=kh * kw:
                             lax.reduce_window(h, 0.0, lax.add, w, s, q) / n)
        elif kind == "ReLU":
            steps.append(lambda h, p, train, key: jnp.maximum(h, 0))
        elif kind == "Flatten":
            steps.append(lambda h, p, train, key: h.reshape(h.shape[0], -1))
        elif kind == "Linear":
            steps.append(lambda h, p, train, key: h @ p["weight"].T + p["bias"] if "bias" in p
                         else h @ p["weight"].T)
        elif kind == "LogSoftmax":
            steps.append(lambda h, p, train, key, d=cfg["dim"]: jax.nn.log_softmax(h, axis=d))
        elif kind == "Dropout":
            def dropout(h, p, train, key, rate=cfg["p"], index=i):
                if not train or rate == 0.0:
                    return h
                keep = jax.random.bernoulli(jax.random.fold_in(key, index), 1.0 - rate, h.shape)
                return jnp.where(keep, h / (1.0 - rate), 0.0)
            steps.append(dropout)
        else:
            raise ValueError(f"to_jax: layer {i} ({kind}) has no JAX translation")
        params.append({name.split(".", 1)[1]: jnp.asarray(w.astype(np.float32))
                       for name, w in weights.items() if name.split(".", 1)[0] == str(i)})

    def apply(params, x, train, key):
        for step, p in zip(steps, params):
            x = step(x, p, train, key)
        return x
    return params, apply


class Jax(Contender):
    """XLA's default threads; one compiled training step per mode (train/eval), one forward."""

    def __init__(self):
        try:
            import jax
        except ImportError:
            raise Skip("JAX is not installed (pip install jax)") from None
        self.jax, self.cpu = jax, jax.devices("cpu")[0]

    def info(self):
        import jaxlib
        return dict(jax=self.jax.__version__, jaxlib=jaxlib.__version__, device=str(self.cpu))

    def setup(self, network, x, y):
        jax, jnp = self.jax, self.jax.numpy
        params, apply = to_jax(*read_network(network))
        self.params = jax.device_put(params, self.cpu)
        self.velocity = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        self.key = jax.device_put(jax.random.PRNGKey(SEED), self.cpu)   # placed like the step's output key,
                                                                        # or the second step compiles again
        self.x, self.y = jax.device_put(x, self.cpu), jax.device_put(y, self.cpu)
        self.training = True

        def loss_fn(params, x, y, key, train):                   # NLL of log-probabilities, mean
            out = apply(params, x, train, key)
            return -jnp.mean(jnp.take_along_axis(out, y[:, None], axis=1))

        def step(params, velocity, x, y, key, train):            # torch.optim.SGD's rule, as minicnn
            key, sub = jax.random.split(key)
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y, sub, train)
            velocity = jax.tree_util.tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
            params = jax.tree_util.tree_map(lambda p, v: p - LR * v, params, velocity)
            return params, velocity, key, loss
        self._step = jax.jit(step, static_argnums=5)
        self._infer = jax.jit(lambda params, x: apply(params, x, False, None))

    def set_training(self, mode):
        self.training = bool(mode)

    def train_step(self):
        self.params, self.velocity, self.key, loss = self._step(self.params, self.velocity, self.x,
                                                                self.y, self.key, self.training)
        return float(loss)                                       # waits for the step, as minicnn's float does

    def infer_step(self):
        self._infer(self.params, self.x).block_until_ready()

    def predict(self, images):
        return np.asarray(self._infer(self.params, self.jax.device_put(images, self.cpu)))

    def free(self):
        self.params = self.velocity = self.x = self.y = None
