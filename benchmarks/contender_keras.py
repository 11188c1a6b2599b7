"""Keras 3 on TensorFlow, on the CPU: the framework of the Colab notebook minicnn was inspired by.

The network is built the way a Keras user writes it, channels last (NHWC, TensorFlow's
native layout on the CPU): the batch is transposed once, the weights are copied in
Keras's layouts, and the first Dense layer after a Flatten gets its rows reordered
from minicnn's (C, H, W) flattening to Keras's (H, W, C). The training step is a
``tf.function`` (graph mode, no XLA): NLL of the log-softmax output, SGD with momentum.
"""
import os

import numpy as np

from .contenders import LR, MOMENTUM, Contender, Skip
from .network import read_network


def to_keras(architecture, weights, input_shape):
    """A ``keras.Sequential`` for NHWC input with a copy of the weights; input_shape is (C, H, W)."""
    import keras
    from keras import layers as kl

    c, h, w = input_shape
    model, shape, flat_from = [keras.Input(shape=(h, w, c))], (c, h, w), None
    copies = []                               # (layer, [arrays]) to set once the model is built
    for i, spec in enumerate(architecture):
        kind, cfg = spec["type"], spec["config"]
        pw = weights.get(f"{i}.weight")
        if kind in ("Conv2d", "MaxPool2d", "AvgPool2d"):
            (kh, kw), (sh, sw), (ph, pw_) = cfg["kernel_size"], cfg["stride"], cfg["padding"]
            if (ph or pw_) and kind == "MaxPool2d":
                raise ValueError(f"to_keras: layer {i} (MaxPool2d) has padding {cfg['padding']}; Keras pads "
                                 "with zeros, not with minus infinity")
            if ph or pw_:
                model.append(kl.ZeroPadding2D(((ph, ph), (pw_, pw_))))
            out_c = cfg["out_channels"] if kind == "Conv2d" else shape[0]
            shape = (out_c, (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw_ - kw) // sw + 1)
            if kind == "Conv2d":
                layer = kl.Conv2D(out_c, (kh, kw), strides=(sh, sw), use_bias=cfg["bias"])
                copies.append((layer, [pw.transpose(2, 3, 1, 0)]                   # (KH, KW, C_in, C_out)
                               + ([weights[f"{i}.bias"]] if cfg["bias"] else [])))
            elif kind == "MaxPool2d":
                layer = kl.MaxPooling2D((kh, kw), strides=(sh, sw))
            else:      # padded zeros count in the mean, as in minicnn
                layer = kl.AveragePooling2D((kh, kw), strides=(sh, sw))
        elif kind == "ReLU":
            layer = kl.ReLU()
        elif kind == "Flatten":
            layer, flat_from = kl.Flatten(), shape                  # Keras flattens (H, W, C)
        elif kind == "Linear":
            if flat_from is not None:                               # minicnn's columns are (C, H, W)
                pw = pw.reshape(len(pw), *flat_from).transpose(0, 2, 3, 1).reshape(len(pw), -1)
                flat_from = None
            layer = kl.Dense(cfg["out_features"], use_bias=cfg["bias"])
            copies.append((layer, [pw.T] + ([weights[f"{i}.bias"]] if cfg["bias"] else [])))  # (in, out)
        elif kind == "LogSoftmax":
            if cfg["dim"] not in (1, -1):
                raise ValueError(f"to_keras: layer {i} (LogSoftmax) has dim={cfg['dim']}; only the class axis")
            layer = kl.Activation(keras.activations.log_softmax)
        elif kind == "Dropout":
            layer = kl.Dropout(cfg["p"])
        else:
            raise ValueError(f"to_keras: layer {i} ({kind}) has no Keras translation")
        model.append(layer)
    model = keras.Sequential(model)
    for layer, arrays in copies:
        layer.set_weights([a.astype(np.float32) for a in arrays])
    return model


class Keras(Contender):
    """TensorFlow's default thread pools (recorded); the GPU, if TensorFlow has one, is hidden."""

    def __init__(self):
        os.environ["KERAS_BACKEND"] = "tensorflow"          # this process only: Keras 3 on TensorFlow
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # fewer start-up messages on stderr
        try:
            import keras
            import tensorflow as tf
        except ImportError:
            raise Skip("Keras 3 with TensorFlow is not installed (pip install keras tensorflow-cpu)") from None
        if int(keras.__version__.split(".")[0]) < 3:
            raise Skip(f"Keras {keras.__version__} is installed; this contender needs Keras 3")
        tf.config.set_visible_devices([], "GPU")
        self.keras, self.tf = keras, tf

    def info(self):
        t = self.tf.config.threading
        return dict(tensorflow=self.tf.__version__, keras=self.keras.__version__,
                    intra_op_threads=t.get_intra_op_parallelism_threads() or "default (all cores)",
                    inter_op_threads=t.get_inter_op_parallelism_threads() or "default")

    def setup(self, network, x, y):
        tf, keras = self.tf, self.keras
        self.model = model = to_keras(*read_network(network), x.shape[1:])
        optimizer = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)   # the same rule as torch's
        optimizer.build(model.trainable_variables)
        self.x = tf.constant(x.transpose(0, 2, 3, 1))                            # (N, H, W, C)
        self.y = tf.constant(y)
        self.training = True

        @tf.function
        def step(x, y, training):
            with tf.GradientTape() as tape:
                out = model(x, training=training)
                loss = -tf.reduce_mean(tf.gather(out, y, batch_dims=1))      # NLL of log-probabilities
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        self._step = step
        self._infer = tf.function(lambda x: model(x, training=False))

    def set_training(self, mode):
        self.training = bool(mode)

    def train_step(self):
        return float(self._step(self.x, self.y, self.training))      # waits for it, as minicnn's float does

    def infer_step(self):
        self._infer(self.x).numpy()

    def predict(self, images):
        return self._infer(self.tf.constant(images.transpose(0, 2, 3, 1))).numpy()

    def free(self):
        self.model = self.x = self.y = self._step = self._infer = None
        self.keras.backend.clear_session()
