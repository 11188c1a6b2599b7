"""Solutions for lesson 07: looking inside the network."""
import numpy as np

import minicnn as mc


def saliency_map(model, x, target):
    """x: (1, 1, 28, 28) -> d score[target] / d x, shape (1, 28, 28); score = output before LogSoftmax."""
    scorer = mc.Sequential(*model.layers[:-1])     # the same layer objects, without the LogSoftmax
    scores = scorer.forward(x)                     # (1, 10)
    grad = np.zeros_like(scores)
    grad[0, target] = 1.0                          # d score[target] / d scores: one-hot
    return scorer.backward(grad, input_grad=True)[0]   # (1, 1, 28, 28) -> (1, 28, 28)
