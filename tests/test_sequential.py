"""Sequential: forward/backward chaining, save/load, refusing bad files, summary."""
import os
import pickle

import numpy as np
import pytest

import minicnn as mc
from minicnn.checkpoint import architecture
from minicnn.models import lenet

INPUT = (1, 8, 8)


def every_layer_model():
    """One of each layer type, non-square and overlapping settings included.  (N, 1, 8, 8) -> (N, 5)"""
    return mc.Sequential(
        mc.Conv2d(1, 4, (3, 2), stride=(1, 2), padding=(1, 0)), mc.ReLU(),    # (N, 4, 8, 4)
        mc.MaxPool2d(3, stride=2, padding=1),                                  # (N, 4, 4, 2)
        mc.Conv2d(4, 3, 1, bias=False), mc.AvgPool2d(2),                       # (N, 3, 2, 1)
        mc.Flatten(), mc.Dropout(0.2), mc.Linear(6, 5), mc.LogSoftmax(dim=1))  # (N, 6) -> (N, 5)


def batch(n=3, seed=0):
    return mc.asarray(np.random.default_rng(seed).standard_normal((n,) + INPUT).astype(np.float32))


def files_in(folder):
    return sorted(os.listdir(folder))


# -- chaining ---------------------------------------------------------------------------------
def test_forward_and_backward_chain_the_layers(backend):
    mc.manual_seed(0)
    model = every_layer_model().eval()
    x = batch()
    y = model(x)
    g = mc.xp().asarray(np.random.default_rng(1).standard_normal(y.shape).astype(np.float32))
    dx = model.backward(g)
    h = x                      # the same layers by hand, in the order written
    for layer in model:
        h = layer(h)
    np.testing.assert_array_equal(mc.to_numpy(y), mc.to_numpy(h))
    for layer in reversed(model.layers):
        g = layer.backward(g)
    np.testing.assert_array_equal(mc.to_numpy(dx), mc.to_numpy(g))
    assert dx.shape == x.shape


def test_backward_without_input_grad_still_sets_every_parameter_grad(backend):
    mc.manual_seed(0)
    model = every_layer_model().eval()
    x = batch()
    g = mc.xp().ones((3, 5), dtype=np.float32)
    model(x)
    model.backward(g, input_grad=True)
    full = {n: mc.to_numpy(p.grad) for n, p in model.named_parameters()}
    model.zero_grad()
    model(x)
    assert model.backward(g, input_grad=False) is None
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(mc.to_numpy(p.grad), full[n], err_msg=n)
    model(x)
    assert model.backward(g).shape == x.shape              # the first layer computes it again


def test_layers_run_in_the_order_written_and_backward_in_reverse():
    calls = []

    def spy(cls):
        class Spy(cls):
            def forward(self, x):
                calls.append(("forward", cls.__name__))
                return super().forward(x)

            def backward(self, g):
                calls.append(("backward", cls.__name__))
                return super().backward(g)
        return Spy

    model = mc.Sequential(spy(mc.Conv2d)(1, 2, 3), spy(mc.ReLU)(), spy(mc.MaxPool2d)(2))
    y = model.forward(batch(2))
    assert model[1]._cache[0].shape == (2, 2, 6, 6)    # the ReLU saw the convolution's full-size output
    model.backward(mc.xp().ones(y.shape, dtype=np.float32))
    order = ["Conv2d", "ReLU", "MaxPool2d"]
    assert calls == [("forward", n) for n in order] + [("backward", n) for n in reversed(order)]


def tied_model(pool_first):
    """Conv, ReLU and MaxPool twice, integer weights: many windows tie, at 0 and above it."""
    def block(conv, pool):
        return [conv, pool, mc.ReLU()] if pool_first else [conv, mc.ReLU(), pool]
    model = mc.Sequential(*block(mc.Conv2d(1, 3, 3, padding=1), mc.MaxPool2d(2)),           # (N, 3, 4, 4)
                          *block(mc.Conv2d(3, 2, 1), mc.MaxPool2d(3, stride=2, padding=1)),  # (N, 2, 2, 2)
                          mc.Flatten(), mc.Linear(8, 4), mc.ReLU(), mc.LogSoftmax(dim=1))
    rng = np.random.default_rng(5)
    for p in model.parameters():
        p.data = mc.xp().asarray(rng.integers(-2, 3, p.shape).astype(np.float64))
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_after_max_pool_gives_the_same_numbers_bit_for_bit(backend, dtype):
    """The zoo models write Conv2d -> MaxPool2d -> ReLU: outputs and every gradient are exactly those
    of Conv2d -> ReLU -> MaxPool2d, ties (all-zero windows, equal maxima) and padding included."""
    rng = np.random.default_rng(6)
    x = mc.asarray(rng.integers(-2, 3, (20, 1, 8, 8)).astype(dtype))
    y = mc.asarray(rng.integers(0, 4, 20))
    results = {}
    for pool_first in (True, False):
        model = tied_model(pool_first).to(dtype=dtype)
        loss = mc.NLLLoss()
        out = model.forward(x)
        loss.forward(out, y)
        dx = model.backward(loss.backward())
        results[pool_first] = [mc.to_numpy(a) for a in [out, dx] + [p.grad for p in model.parameters()]]
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)
    # the first pool's 2x2 windows: some tie at a positive maximum, some are <= 0 throughout
    windows = mc.to_numpy(model.layers[0].forward(x)).reshape(20, 3, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(-1, 4)
    top = windows.max(axis=1)
    assert ((windows == top[:, None]).sum(axis=1)[top > 0] > 1).sum() > 10
    assert (top <= 0).sum() > 10


def test_relu_backward_names_a_gradient_of_the_wrong_shape():
    relu = mc.ReLU()
    relu.forward(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"ReLU.backward received a gradient of shape \(2, 4\), "
                                         r"but its last forward returned shape \(2, 3\)"):
        relu.backward(np.ones((2, 4), dtype=np.float32))


def test_parameters_names_modes_and_indexing():
    model = every_layer_model()
    assert len(model) == 9 and isinstance(model[7], mc.Linear)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "3.weight", "7.weight",
                                                        "7.bias"]
    assert list(model.state_dict()) == [n for n, _ in model.named_parameters()]
    assert len(model.parameters()) == 5
    model.eval()
    assert not any(layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)
    assert mc.Sequential([mc.ReLU(), mc.Flatten()]).layers[1].__class__ is mc.Flatten
    with pytest.raises(TypeError, match="layer 1"):
        mc.Sequential(mc.ReLU(), "not a layer")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_casts_every_parameter(backend, dtype):
    model = every_layer_model().to(dtype=dtype)
    assert {p.data.dtype for p in model.parameters()} == {np.dtype(dtype)}
    assert model(batch().astype(dtype)).dtype == dtype


# -- save and load ----------------------------------------------------------------------------
META = {"classes": ["zero", "one", "two", "three", "four"], "dataset": "mnist", "epochs": 3}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(backend, tmp_path, dtype):
    mc.manual_seed(0)
    model = every_layer_model().to(dtype=dtype).eval()
    path = tmp_path / "model.npz"
    model.save(path, metadata=META)
    assert model.metadata == META

    loaded = mc.Sequential.load(path).eval()
    assert repr(loaded) == repr(model)
    assert architecture(loaded) == architecture(model)
    assert loaded.metadata == META
    for (name, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters()):
        assert q.data.dtype == dtype, f"{name} came back as {q.data.dtype}, saved as {np.dtype(dtype)}"
        assert mc.get_array_module(q.data) is mc.xp()
        np.testing.assert_array_equal(mc.to_numpy(q.data), mc.to_numpy(p.data), err_msg=name)
    x = batch().astype(dtype)
    np.testing.assert_array_equal(mc.to_numpy(loaded(x)), mc.to_numpy(model(x)))


def test_saved_metadata_is_merged_and_load_restores_it(tmp_path):
    model = every_layer_model()
    model.metadata = {"dataset": "mnist"}
    model.save(tmp_path / "m.npz", metadata={"classes": ["a", "b"]})
    other = mc.Sequential.load(tmp_path / "m.npz")
    assert other.metadata == {"dataset": "mnist", "classes": ["a", "b"]}
    np.testing.assert_array_equal(mc.to_numpy(other[0].weight.data), mc.to_numpy(model[0].weight.data))


def test_atomic_save_leaves_only_the_checkpoint(tmp_path):
    folder = tmp_path / "new" / "folder"                     # created on demand
    path = folder / "model.npz"
    every_layer_model().save(path)
    every_layer_model().save(path)                           # overwriting too
    assert files_in(folder) == ["model.npz"]


def test_failed_save_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    mc.manual_seed(0)
    old = every_layer_model()
    path = tmp_path / "model.npz"
    old.save(path)

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        every_layer_model().save(path)
    monkeypatch.undo()
    assert files_in(tmp_path) == ["model.npz"]
    kept = mc.Sequential.load(path)
    np.testing.assert_array_equal(mc.to_numpy(kept[0].weight.data), mc.to_numpy(old[0].weight.data))


def test_an_unregistered_layer_cannot_be_saved(tmp_path):
    class Square(mc.ReLU):
        pass

    with pytest.raises(ValueError, match=r"cannot save layer 1 \(Square\): it is not a registered layer"):
        mc.Sequential(mc.Flatten(), Square()).save(tmp_path / "m.npz")
    assert files_in(tmp_path) == []


# -- mismatched architectures and shapes --------------------------------------------------------
def test_load_state_dict_names_the_parameter_and_both_shapes():
    model = every_layer_model()
    state = dict(every_layer_model().state_dict())
    state["7.weight"] = np.zeros((5, 7), dtype=np.float32)
    with pytest.raises(ValueError) as e:
        model.load_state_dict(state)
    msg = str(e.value)
    assert "'7.weight'" in msg and "(5, 6)" in msg and "(5, 7)" in msg, msg


def test_load_state_dict_names_missing_and_unexpected_parameters():
    state = dict(every_layer_model().state_dict())
    state["9.weight"] = state.pop("3.weight")
    with pytest.raises(ValueError) as e:
        every_layer_model().load_state_dict(state)
    assert "3.weight" in str(e.value) and "9.weight" in str(e.value), str(e.value)


def test_load_of_weights_that_do_not_fit_their_architecture_names_parameter_and_shapes(tmp_path):
    # A tampered checkpoint: lenet(8)'s header with one weight of the wrong shape.
    path = tmp_path / "tampered.npz"
    lenet(n_features=8).save(path)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["7.weight"] = np.zeros((50, 100), dtype=np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ValueError) as e:
        mc.Sequential.load(path)
    msg = str(e.value)
    assert "tampered.npz" in msg and "'7.weight'" in msg and "(50, 128)" in msg and "(50, 100)" in msg, msg


# -- files that are not minicnn checkpoints ------------------------------------------------------
def refuse(path):
    """Loading ``path`` must raise one clear ValueError naming the file."""
    with pytest.raises(ValueError) as e:
        mc.Sequential.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value), str(e.value)
    return str(e.value)


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.0], ids=["half", "all-but-1%", "empty"])
def test_truncated_checkpoint_is_refused(tmp_path, keep):
    good = tmp_path / "good.npz"
    lenet(n_features=4).save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[:int(len(data) * keep)])
    refuse(cut)


def test_corrupted_checkpoint_is_refused(tmp_path):
    path = tmp_path / "flipped.npz"
    mc.Sequential(mc.Linear(200, 300)).save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF                             # one byte inside the weights
    path.write_bytes(bytes(data))
    refuse(path)


def test_foreign_files_are_refused(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, weight=np.ones((3, 3)))
    assert "header" in refuse(plain)
    text = tmp_path / "notes.npz"
    text.write_text("these are not the weights you are looking for\n")
    refuse(text)
    other_format = tmp_path / "other.npz"
    np.savez(other_format, __header__=np.array('{"format": "keras-v2"}'))
    assert "keras-v2" in refuse(other_format)
    not_json = tmp_path / "notjson.npz"
    np.savez(not_json, __header__=np.array("{not json"))
    refuse(not_json)


def test_a_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.ones((3, 3)))
    refuse(path)


def test_missing_checkpoint_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        mc.Sequential.load(tmp_path / "nowhere.npz")


class CreatesFileWhenUnpickled:
    """A pickle payload: unpickling it calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_files_are_refused_and_never_executed(tmp_path):
    # First prove the payload works: unpickling it does create its marker.
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(CreatesFileWhenUnpickled(control))).close()
    assert control.exists()

    marker = tmp_path / "marker"
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps(CreatesFileWhenUnpickled(marker)))
    refuse(raw)

    # A checkpoint with a valid header whose weight is an object array (stored as a pickle).
    sneaky = tmp_path / "sneaky.npz"
    good = tmp_path / "good.npz"
    mc.Sequential(mc.Linear(2, 2)).save(good)
    with np.load(good) as f:
        arrays = dict(f)
    payload = np.empty(1, dtype=object)
    payload[0] = CreatesFileWhenUnpickled(marker)
    arrays["0.weight"] = payload
    np.savez(sneaky, **arrays)
    refuse(sneaky)

    pickled_npy = tmp_path / "pickled.npy"
    np.save(pickled_npy, payload, allow_pickle=True)
    refuse(pickled_npy)
    assert not marker.exists(), "loading a checkpoint executed code from a pickle"


# -- summary ------------------------------------------------------------------------------------
# lenet(24) on a (1, 28, 28) image, counted by hand. Conventions: a multiply-add is 2 FLOPs and
# a bias add 1; ReLU 1 per element, pooling KH*KW per output, LogSoftmax 4 per element.
LENET_SUMMARY = [
    ("0: Conv2d", (24, 24, 24), 624, 705_024),        # 24*1*5*5 + 24;  (2*25 + 1) * 24*24*24
    ("1: MaxPool2d", (24, 12, 12), 0, 13_824),        # 4 * 24*12*12
    ("2: ReLU", (24, 12, 12), 0, 3_456),              # 24*12*12: after pooling, a quarter of the numbers
    ("3: Conv2d", (24, 8, 8), 14_424, 1_844_736),     # 24*24*5*5 + 24; (2*600 + 1) * 24*8*8
    ("4: MaxPool2d", (24, 4, 4), 0, 1_536),           # 4 * 24*4*4
    ("5: ReLU", (24, 4, 4), 0, 384),
    ("6: Flatten", (384,), 0, 0),
    ("7: Linear", (50,), 19_250, 38_450),             # 384*50 + 50;    (2*384 + 1) * 50
    ("8: ReLU", (50,), 0, 50),
    ("9: Linear", (10,), 510, 1_010),                 # 50*10 + 10;     (2*50 + 1) * 10
    ("10: LogSoftmax", (10,), 0, 40),
]


def test_summary_of_lenet_matches_the_hand_count(capsys):
    model = lenet()
    assert model.summary_rows((1, 28, 28)) == LENET_SUMMARY
    # Cross-checks against the model itself: real output shapes and real parameter sizes.
    h = mc.xp().zeros((1, 1, 28, 28), dtype=np.float32)
    for layer, (name, shape, n_params, _) in zip(model, LENET_SUMMARY):
        h = layer(h)
        assert h.shape[1:] == shape, name
        assert sum(p.data.size for p in layer.parameters()) == n_params, name

    model.summary((1, 28, 28))
    out = capsys.readouterr().out
    assert "34,808" in out and "2,608,510" in out, out   # totals: 624+14,424+19,250+510 params
    for name, shape, n_params, flops in LENET_SUMMARY:
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert str(shape) in line and f"{flops:,}" in line and f"{n_params:,}" in line, line


def test_summary_with_the_wrong_input_shape_names_the_layer():
    with pytest.raises(ValueError) as e:
        lenet().summary_rows((3, 28, 28))
    assert "layer 0" in str(e.value) and "(3, 28, 28)" in str(e.value), str(e.value)
