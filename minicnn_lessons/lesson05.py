"""Solutions for lesson 05: SGD with momentum."""


def sgd_step(param, grad, buf, lr, momentum=0.0, weight_decay=0.0):
    """One SGD update of one parameter -> (new param, new velocity buffer or None)."""
    g = grad + weight_decay * param if weight_decay else grad
    if momentum:
        buf = g.copy() if buf is None else momentum * buf + g   # first step: the gradient itself
        g = buf
    return param - lr * g, buf
