"""Lesson 05: SGD with momentum. The solution, and the check of the learner's update rule (one line
per case; see minicnn_lessons.Report).

The rule is torch.optim.SGD's (and minicnn.SGD's), without Nesterov. For one parameter theta with
gradient dL/dtheta, learning rate eta, momentum mu, dampening delta and weight decay lam:

    g     = dL/dtheta + lam * theta
    v     = g                                  on the first step (no velocity yet: nothing to dampen)
    v     = mu * v + (1 - delta) * g           on every later step
    theta = theta - eta * v                    (theta - eta * g when mu = 0: no velocity at all)
"""
import numpy as np

from . import Report, call, close_to, whose

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def sgd_step(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """One SGD update of one parameter. param, grad: arrays of one shape; velocity: the velocity
    the previous step returned (same shape), None before the first step.
    -> (new param, new velocity): new arrays; the velocity is None when momentum is 0."""
    g = grad + weight_decay * param                  # a new array: the caller's grad stays as it was
    if momentum == 0:
        return param - lr * g, None
    if velocity is None:
        v = g                                        # the first step: the gradient itself, undamped
    else:
        v = momentum * velocity + (1 - dampening) * g
    return param - lr * v, v


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------

# Wrong rules seen in practice: (name, the hint the check prints when yours follows it). Each is
# computed by _rule below, so the check can recognise it.
_WRONG_RULES = [
    ("ema", "Yours averages, v ← μv + (1 − μ)g starting from v = 0 (an exponential moving "
            "average, as Adam keeps): that shrinks every step, the first one most. PyTorch's momentum "
            "adds the whole gradient, v ← μv + g, and its first step sets v = g"),
    ("damped first step", "Yours dampens the first step: it starts from v = 0, so step 1 gives "
                          "v = (1 − dampening)·g. On the first step there is no velocity yet, and "
                          "v = g, undamped; dampening applies from the second step on"),
    ("no dampening", "Yours ignores dampening: from the second step on, v ← μv + (1 − dampening)·g"),
    ("dampens the velocity", "Yours multiplies the old velocity by (1 − dampening): dampening "
                             "scales the new gradient, v ← μv + (1 − dampening)·g"),
    ("nesterov", "Yours steps along g + μv: that is Nesterov's look-ahead (SGD with nesterov=True). "
                 "Plain momentum steps along the velocity itself, θ ← θ − ηv"),
    ("up the gradient", "Yours moves up the gradient: the step is θ ← θ − ηv, against "
                        "the velocity (which, like the gradient, points uphill)"),
    ("lr inside", "Yours puts the learning rate inside the velocity (v ← μv + ηg, "
                  "θ ← θ − v, the form of some course notes). It gives the same steps while "
                  "η stays fixed, but PyTorch keeps η outside, θ ← θ − ηv, and the two "
                  "differ as soon as a schedule changes the learning rate"),
    ("no velocity", "Yours ignores the velocity: with momentum, the step is along v, not along g"),
    ("no weight decay", "Yours ignores weight_decay: add λθ to the gradient first, "
                        "g ← ∂L/∂θ + λθ"),
    ("weight decay sign", "Yours subtracts the weight decay: g ← ∂L/∂θ + λθ, whose step "
                          "pulls θ towards 0"),
    ("weight decay after", "Yours adds the weight decay at the end, outside the velocity "
                           "(θ ← θ − η(v + λθ)): it belongs in the gradient, "
                           "g ← ∂L/∂θ + λθ, before the velocity"),
]


def _rule(start, grads, lrs, momentum, dampening, weight_decay, variant=None):
    """The parameters and velocities after each step, in float64: the right rule (variant None)
    or one of _WRONG_RULES. -> (list of params, list of velocities or Nones)."""
    theta, v = np.array(start, dtype=np.float64), None
    params, velocities = [], []
    for grad, lr in zip(grads, lrs):
        lam = {"no weight decay": 0.0, "weight decay sign": -weight_decay,
               "weight decay after": 0.0}.get(variant, weight_decay)
        g = np.asarray(grad, dtype=np.float64) + lam * theta
        if momentum == 0 or variant == "no velocity":
            step = g
        else:
            if variant == "ema":
                v = (1 - momentum) * g + momentum * (0.0 if v is None else v)
            elif variant == "damped first step":
                v = (1 - dampening) * g + momentum * (0.0 if v is None else v)
            elif v is None:
                v = lr * g if variant == "lr inside" else g
            elif variant == "no dampening":
                v = momentum * v + g
            elif variant == "dampens the velocity":
                v = (1 - dampening) * momentum * v + g
            elif variant == "lr inside":
                v = momentum * v + (1 - dampening) * lr * g
            else:
                v = momentum * v + (1 - dampening) * g
            step = g + momentum * v if variant == "nesterov" else v
        if variant == "lr inside" and momentum:
            theta = theta - step
        elif variant == "up the gradient":
            theta = theta + lr * step
        elif variant == "weight decay after":
            theta = theta - lr * (step + weight_decay * theta)
        else:
            theta = theta - lr * step
        params.append(theta)
        velocities.append(None if v is None else v.copy())
    return params, velocities


def _library_steps(start, grads, lrs, momentum, dampening, weight_decay):
    """What minicnn.SGD (torch.optim.SGD's rule) makes of the same steps: (params, velocities)."""
    import minicnn as mc

    p = mc.Parameter(np.array(start, copy=True))
    opt = mc.SGD([p], lr=lrs[0], momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    params, velocities = [], []
    for grad, lr in zip(grads, lrs):
        p.grad = np.array(grad, copy=True)
        opt.lr = lr
        opt.step()
        params.append(p.data.copy())
        velocities.append(None if opt.buffers[0] is None else opt.buffers[0].copy())
    return params, velocities


def check_sgd_step(fn):
    """Several steps of each setting, every step's parameter and velocity compared with minicnn.SGD
    (torch.optim.SGD's rule), feeding back the velocity your previous step returned: plain SGD; the
    first step of momentum; momentum; dampening (whose first step must not be damped); weight decay;
    a learning rate that changes every step; all at once in float32; the caller's arrays left unchanged
    (minicnn_lessons.call sees to that). A wrong rule that the check recognises is named."""
    rng = np.random.default_rng(5)
    changing = [0.1, 0.08, 0.06, 0.04, 0.02]
    cases = [  # (name, steps, learning rates, momentum, dampening, weight decay, dtype)
        ("plain SGD (momentum 0), 3 steps", 3, [0.1] * 3, 0.0, 0.0, 0.0, np.float64),
        ("momentum 0.9: the first step, v = g", 1, [0.1], 0.9, 0.0, 0.0, np.float64),
        ("momentum 0.9, 5 steps", 5, [0.1] * 5, 0.9, 0.0, 0.0, np.float64),
        ("momentum 0.9 with dampening 0.5, 5 steps (the first one undamped)", 5, [0.1] * 5, 0.9, 0.5,
         0.0, np.float64),
        ("momentum 0.9 with weight decay 0.1, 5 steps", 5, [0.1] * 5, 0.9, 0.0, 0.1, np.float64),
        ("momentum 0.9 with a learning rate that changes every step, as a schedule does", 5, changing,
         0.9, 0.0, 0.0, np.float64),
        ("momentum 0.8, dampening 0.3, weight decay 0.05 and a changing learning rate, in float32",
         5, changing, 0.8, 0.3, 0.05, np.float32),
    ]
    report = Report(fn)
    for name, steps, lrs, momentum, dampening, weight_decay, dtype in cases:
        start = rng.standard_normal((3, 4)).astype(dtype)
        grads = [rng.standard_normal((3, 4)).astype(dtype) for _ in range(steps)]
        expected, expected_v = _library_steps(start, grads, lrs, momentum, dampening, weight_decay)
        tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
        param, velocity, got, got_v = start.copy(), None, [], []
        problem = None
        for k, (grad, lr) in enumerate(zip(grads, lrs), 1):
            out, error = call(fn, param, grad, velocity, lr, momentum=momentum, dampening=dampening,
                              weight_decay=weight_decay)     # call also makes sure none changed in place
            if error:
                problem = f"step {k}: {error}"
                if "in place" in error:
                    problem += (" (param - lr * v, not param -= ...: a path of points would otherwise "
                                "hold the same array many times)")
                break
            if not (isinstance(out, tuple) and len(out) == 2):
                problem = f"step {k} returned {type(out).__name__}, expected a pair (new param, new velocity)"
                break
            new_param, velocity = out
            if not hasattr(new_param, "shape") or tuple(new_param.shape) != start.shape:
                problem = (f"step {k} returned a new param of shape {getattr(new_param, 'shape', None)}, "
                           f"expected {start.shape}")
                break
            if new_param.dtype != np.dtype(dtype):
                problem = (f"step {k} returned dtype {new_param.dtype} for a {np.dtype(dtype).name} "
                           f"parameter: keep the parameter's dtype")
                break
            if momentum and (velocity is None or not hasattr(velocity, "shape")
                             or tuple(velocity.shape) != start.shape):
                problem = (f"step {k} returned the velocity {velocity!r:.60}: with momentum it must be "
                           f"an array of the parameter's shape, passed back into the next step")
                break
            got.append(np.array(new_param, dtype=np.float64))
            got_v.append(None if velocity is None else np.array(velocity, dtype=np.float64))
            if not close_to(new_param, expected[k - 1], **tol):
                wrong = np.abs(got[-1] - expected[k - 1])
                i = np.unravel_index(int(np.argmax(wrong)), wrong.shape)
                problem = (f"the parameter after step {k} of {steps} is wrong: at index "
                           f"{tuple(int(j) for j in i)} yours is {got[-1][i]:.6g}, "
                           f"expected {expected[k - 1][i]:.6g}")
                break
            if momentum and not close_to(velocity, expected_v[k - 1], **tol):
                problem = (f"the parameter is right but the velocity returned after step {k} of {steps} "
                           f"is not v")
                if close_to(velocity, -expected_v[k - 1], **tol):
                    problem += (": yours has the opposite sign (v ← μv − g, θ ← θ + ηv "
                                "gives the same steps, but the velocity asked for is v ← μv + g)")
                break
            param = new_param
        if problem is None:
            report.add(True, f"{whose(fn)} is right for {name}", name)
            continue
        text = f"{whose(fn)} is wrong for {name}: {problem}"
        if got:                                      # which wrong rule did it follow?
            right, right_v = _rule(start, grads, lrs, momentum, dampening, weight_decay)
            for variant, hint in _WRONG_RULES:
                theirs, theirs_v = _rule(start, grads, lrs, momentum, dampening, weight_decay, variant)
                # Recognised by its parameters; where those are right so far, by its velocities.
                pairs = list(zip(got, theirs, right))
                if momentum and all(close_to(t, r, **tol) for _, t, r in pairs):
                    pairs = list(zip(got_v, theirs_v, right_v))
                differs = any(not close_to(t, r, **tol) for _, t, r in pairs)
                if differs and all(close_to(a, t, **tol) for a, t, _ in pairs):
                    text += f". {hint}"
                    break
        report.add(False, text, name)
    return report.close()
