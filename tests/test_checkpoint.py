"""Loading trusts nothing in the file: hostile checkpoints get one sentence naming the file and
the field, before anything is built or allocated. Every file here is written into tmp_path."""
import io
import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn import checkpoint
from minicnn.models import lenet

ROOT = Path(__file__).resolve().parents[1]


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write(path, header, arrays, compress=zipfile.ZIP_STORED):
    """A .npz as an attacker would write it: any header, any arrays."""
    with zipfile.ZipFile(path, "w", compress) as z:
        if header is not None:
            z.writestr("__header__.npy", npy(np.array(header if isinstance(header, str) else json.dumps(header))))
        for name, value in arrays.items():
            z.writestr(f"{name}.npy", value if isinstance(value, bytes) else npy(value))
    return path


def good(path):
    """A real small model's file, and its header and arrays to edit."""
    model = mc.Sequential(mc.Conv2d(1, 2, 3), mc.ReLU(), mc.Flatten(), mc.Linear(8, 3))
    model.save(path)
    with np.load(path) as f:
        header = json.loads(str(f["__header__"]))
        arrays = {k: f[k] for k in f.files if k != "__header__"}
    return header, arrays


def refused(path, *words):
    with pytest.raises(ValueError) as e:
        mc.Sequential.load(path)
    message = str(e.value)
    assert str(path) in message and "\n" not in message, message
    assert all(w in message for w in words), message
    return message


def test_the_header_says_format_version_and_minicnn_version(tmp_path):
    header, _ = good(tmp_path / "m.npz")
    assert header["format"] == "minicnn-checkpoint" and header["version"] == 2
    assert header["minicnn_version"] == mc.__version__
    assert header["model"]["type"] == "Sequential" and header["model"]["layers"][0]["type"] == "Conv2d"


def test_a_file_of_format_1_still_loads(tmp_path):
    """Written as the code before format 2 wrote it: the layers as a list under "architecture"."""
    model = lenet()
    header = {"format": "minicnn-sequential-v1", "metadata": {"classes": list("0123456789")},
              "architecture": [{"type": type(layer).__name__, "config": layer.config()} for layer in model]}
    path = write(tmp_path / "old.npz", header, {k: mc.to_numpy(v) for k, v in model.state_dict().items()})
    again = mc.Sequential.load(path)
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(again(x), model(x))
    assert again.metadata["classes"][3] == "3"


def test_a_huge_layer_in_the_header_is_refused_before_any_allocation(tmp_path):
    """Linear(30000, 25000) would be 3 GB: the stored arrays say otherwise, so nothing is built."""
    header, arrays = good(tmp_path / "m.npz")
    header["model"]["layers"][3]["config"].update(in_features=30000, out_features=25000)
    path = write(tmp_path / "huge.npz", header, arrays)
    code = (f"import resource, minicnn as mc\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            f"try:\n    mc.Sequential.load({str(path)!r})\nexcept ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "'3.weight' has shape (3, 8), but the architecture" in out.stdout, out.stderr
    header["model"]["layers"][0]["config"]["out_channels"] = 10 ** 9
    refused(write(tmp_path / "wide.npz", header, arrays), "'0.weight' has shape (2, 1, 3, 3)")


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    header, arrays = good(tmp_path / "m.npz")
    arrays["3.weight"] = np.zeros((20000, 8000), np.float32)      # 640 MB of zeros, a few hundred kB zipped
    path = write(tmp_path / "bomb.npz", header, arrays, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2_000_000
    refused(path, "would inflate to")


def test_a_header_announcing_more_than_it_holds_is_refused_before_allocation(tmp_path):
    """np.load allocates what a .npy header declares, so the header member's is checked against its size too."""
    _, arrays = good(tmp_path / "m.npz")
    announce = io.BytesIO()
    np.lib.format.write_array_header_1_0(announce, {"descr": "<U268435456", "fortran_order": False, "shape": ()})
    path = write(tmp_path / "big.npz", None, {"__header__": announce.getvalue() + bytes(8), **arrays})
    refused(path, "not a readable minicnn checkpoint", "'__header__' declares shape () of <U268435456, which does not")


@pytest.mark.parametrize("edit, words", [
    (lambda h, a: h.update(format="something-else"), ["not a minicnn checkpoint", "something-else"]),
    (lambda h, a: h.update(version=99), ["header field 'version'", "a newer minicnn"]),
    (lambda h, a: h.update(version="2"), ["header field 'version'"]),
    (lambda h, a: h.update(metadata=[1, 2]), ["header field 'metadata' must be a JSON object"]),
    (lambda h, a: h.update(model=None), ["header field model must be an object"]),
    (lambda h, a: h["model"].update(type="os.system"), ["model.type", "'os.system'", "not a registered layer"]),
    (lambda h, a: h["model"].update(layers="Conv2d"), ["model.layers must be a list"]),
    (lambda h, a: h["model"]["layers"][0].update(type=7), ["model.layers[0] must be an object with a 'type'"]),
    (lambda h, a: h["model"]["layers"][0].update(config=[1]), ["model.layers[0].config"]),
    (lambda h, a: h["model"]["layers"][0]["config"].update(kernel_size=3.7),
     ["model.layers[0] (Conv2d) has a bad config", "kernel_size"]),
    (lambda h, a: h["model"]["layers"][0]["config"].update(stride=0), ["model.layers[0] (Conv2d) has a bad config"]),
    (lambda h, a: h["model"]["layers"][0]["config"].update(colour="red"),
     ["model.layers[0] (Conv2d) has a bad config", "colour"]),
    (lambda h, a: h["model"]["layers"][3]["config"].update(in_features="8"), ["model.layers[3] (Linear)"]),
    (lambda h, a: h["model"]["layers"].append({"type": "Linear", "config": {"in_features": 3, "out_features": 2}}),
     ["missing ['4.bias', '4.weight']"]),
    (lambda h, a: a.pop("0.bias"), ["missing ['0.bias']"]),
    (lambda h, a: a.update(extra=np.zeros(3)), ["unexpected ['extra']"]),
    (lambda h, a: a.update({"0.weight": np.full((2, 1, 3, 3), np.nan, np.float32)}), ["'0.weight' holds NaN"]),
    (lambda h, a: a.update({"0.weight": np.full((2, 1, 3, 3), np.inf, np.float32)}), ["infinite"]),
    (lambda h, a: a.update({"0.weight": np.zeros((2, 1, 3, 3), "U3")}), ["'0.weight' is <U3"]),
    (lambda h, a: a.update({"0.weight": np.zeros((2, 1, 3, 3), bool)}), ["'0.weight' is bool"]),
    (lambda h, a: a.update({"0.weight": np.zeros((2, 1, 3, 3), np.int32)}), ["'0.weight' is int32", "float32 or float64"]),
    (lambda h, a: a.update({"0.weight": np.zeros((2, 1, 3, 3), np.complex64)}), ["'0.weight' is complex64"]),
    (lambda h, a: a.update({"0.weight": np.zeros((2, 1, 3, 3), np.float16)}), ["float16", "float32 or float64"]),
    (lambda h, a: a.update({"0.bias": np.zeros(2, np.float64)}), ["mix float32 and float64"]),
    (lambda h, a: a.update({"0.weight": npy(np.zeros((2, 1, 3, 3), np.float32))[:-8]}), ["does not fit its"]),
])
def test_a_malformed_file_gets_one_sentence(tmp_path, edit, words):
    header, arrays = good(tmp_path / "m.npz")
    edit(header, arrays)
    refused(write(tmp_path / "bad.npz", header, arrays), *words)


def test_malformed_archives_get_one_sentence(tmp_path):
    header, arrays = good(tmp_path / "m.npz")
    refused(write(tmp_path / "noheader.npz", None, arrays), "no minicnn header")
    refused(write(tmp_path / "notjson.npz", "{oops", arrays), "not a readable minicnn checkpoint")
    refused(write(tmp_path / "list.npz", [1, 2], arrays), "not a JSON object")
    deep = '{"format": "minicnn-checkpoint", "version": 2, "model": ' + '{"type": "Sequential", "layers": [' * 5000
    refused(write(tmp_path / "deep.npz", deep + "]}" * 5000 + "}", {}), "not a readable minicnn checkpoint")
    deep = '{"format": "minicnn-checkpoint", "version": 2, "model": ' + '{"type": "Sequential", "layers": [' * 40
    refused(write(tmp_path / "deep40.npz", deep + "]}" * 40 + "}", {}), "nests more than 32")
    pickled = tmp_path / "pickled.npz"
    with zipfile.ZipFile(pickled, "w") as z:
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        z.writestr("__header__.npy", buffer.getvalue())
    refused(pickled, "not a readable minicnn checkpoint")
    (tmp_path / "text.npz").write_text("hello")
    refused(tmp_path / "text.npz", "not a readable minicnn checkpoint")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as z:
        z.writestr("__header__.npy", npy(np.array(json.dumps(header))))
        z.writestr("readme.txt", "hi")
    refused(tmp_path / "other.npz", "not .npy arrays")


def test_a_directory_or_fifo_is_not_read(tmp_path):
    refused(tmp_path, "not a regular file")
    fifo = tmp_path / "pipe.npz"
    import os
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")                      # never opened: opening a FIFO would hang


def test_nothing_in_a_loaded_file_is_code():
    """The loader never unpickles: np.load is always called with allow_pickle=False."""
    source = (ROOT / "minicnn" / "checkpoint.py").read_text()
    assert "allow_pickle=True" not in source and source.count("np.load(") == source.count("allow_pickle=False")
    assert resource is not None and checkpoint.MAX_INFLATION >= 1


@pytest.mark.parametrize("name", ["../../outside", "/etc/passwd", ".hidden", "a/b", "x" * 100, "cat\n"])
def test_a_category_is_a_name_never_a_path(tmp_path, name):
    """A checkpoint's metadata names the Quick, Draw! categories that evaluate loads: data, not paths."""
    from minicnn.data import load_quickdraw
    with pytest.raises(ValueError, match="is not a category name"):
        load_quickdraw([name], root=tmp_path, download=False)
    assert list(tmp_path.iterdir()) == []


def test_a_refused_file_leaves_later_layers_real(tmp_path):
    header, arrays = good(tmp_path / "m.npz")
    header["model"]["layers"][0]["config"]["stride"] = 0
    refused(write(tmp_path / "bad.npz", header, arrays), "bad config")
    layer = mc.Linear(3, 2)
    assert layer.weight.data.flags.writeable and layer.weight.data.base is None


def test_categories_named_by_a_checkpoint_are_never_downloaded(tmp_path, capsys, monkeypatch):
    from minicnn import cli
    from minicnn.data import datasets

    def no_download(*args, **kwargs):
        raise AssertionError("a checkpoint's metadata started a download")
    monkeypatch.setattr(datasets, "download_file", no_download)
    model = mc.Sequential(mc.Flatten(), mc.Linear(784, 2), mc.LogSoftmax(dim=1))
    path = model.save(tmp_path / "qd.npz", metadata={"dataset": "quickdraw", "classes": ["cat", "dog"]})
    code = cli.main(["evaluate", str(path), "--data-dir", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert code == 2 and "cat" in err and len(err.strip().splitlines()) == 1, err
