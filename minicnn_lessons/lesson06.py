"""Solutions for lesson 06: training a CNN on MNIST."""


def train_step(model, loss_fn, optimizer, xb, yb):
    """One SGD step on the batch xb (B, 1, 28, 28), yb (B,); returns the batch's loss (float)."""
    optimizer.zero_grad()                              # gradients of the last step must not add up
    loss = loss_fn.forward(model.forward(xb), yb)      # (B, 10) log-probabilities -> mean NLL
    model.backward(loss_fn.backward(), input_grad=False)   # sets every p.grad
    optimizer.step()                                   # v = mu*v + g; p -= lr*v
    return loss
