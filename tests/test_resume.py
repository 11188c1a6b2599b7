"""A resume file is read like a checkpoint: its sizes, shapes and dtypes are checked from the zip directory and the
.npy headers (checkpoint.inventory) before anything is allocated, and bad input gets one sentence naming the file."""
import io
import json
import os
import tracemalloc
import types
import zipfile

import numpy as np
import pytest

from minicnn import checkpoint, cli, resume
from minicnn.train import History


def npy_header(descr, shape):
    """The bytes of a .npy header announcing ``shape`` of ``descr``, for a member that may hold far less."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def resume_file(path, members, compression=zipfile.ZIP_STORED):
    """Write a resume file with a valid __state__ (unless ``members`` has one) and ``members``: {name: chunks}."""
    state = dict(format=resume.FORMAT, run={}, steps=0, history={"position": {}}, optimizer=[])
    buffer = io.BytesIO()
    np.save(buffer, np.array(json.dumps(state)))
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, chunks in {"__state__": [buffer.getvalue()], **members}.items():
            with z.open(f"{name}.npy", "w") as f:
                for chunk in chunks:
                    f.write(chunk)
    return path


def peak_bytes(read, path):
    """(the exception ``read(path)`` raised, the most memory Python and NumPy held meanwhile)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as refused:
            read(path)
        return refused.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_deflated_bomb_is_refused_before_it_is_inflated(tmp_path):
    """200 MiB of zeros deflate to a few hundred kB: np.load used to inflate them all before any check."""
    zeros = bytes(1 << 20)
    bomb = resume_file(tmp_path / "bomb.resume.npz", {"momentum_buffer.0": [npy_header("<f8", (25 << 20,)),
                                                                           *[zeros] * 200]}, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(bomb) < 1 << 20
    error, peak = peak_bytes(resume.read, bomb)
    assert str(error).startswith(f"{bomb} is not a usable minicnn resume file")
    assert "would inflate to 209,715," in str(error) and "\n" not in str(error)
    assert peak < 10 << 20


@pytest.mark.parametrize("name, descr, shape", [
    ("momentum_buffer.0", "<f8", (1 << 40,)),        # 8 TiB of float64 in 8 bytes: was a MemoryError
    ("order", "<i8", (1 << 27,)),
    ("__state__", "<U268435456", ()),                # a 1 GiB string in 8 bytes
])
def test_an_array_announcing_more_than_it_holds_is_refused_before_allocation(tmp_path, capsys, name, descr, shape):
    model = tmp_path / "m.npz"
    path = resume_file(resume.resume_path(model), {name: [npy_header(descr, shape), bytes(8)]})
    error, peak = peak_bytes(resume.read, path)
    assert str(error).startswith(f"{path} is not a usable minicnn resume file")
    assert f"array {name!r} declares shape {shape}" in str(error) and "which does not fit its" in str(error)
    assert peak < 10 << 20
    model.write_bytes(b"")                            # --resume names the model: its resume file is read first
    assert cli.main(["train", "--resume", str(model)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "does not fit" in err and "MemoryError" not in err


def test_a_missing_path_or_one_that_is_not_a_regular_file_gets_one_sentence(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume file .*none.resume.npz does not exist"):
        resume.read(tmp_path / "none.resume.npz")
    fifo = tmp_path / "pipe.resume.npz"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo):                     # never opened: opening a FIFO would hang
        with pytest.raises(ValueError, match=f"{path} is not a regular file"):
            resume.read(path)
    (tmp_path / "text.resume.npz").write_text("hello")
    with pytest.raises(ValueError, match="text.resume.npz is not a usable minicnn resume file"):
        resume.read(tmp_path / "text.resume.npz")


def test_a_saved_resume_file_reads_back_even_when_its_history_is_long(tmp_path):
    """Its __state__ holds every step's loss, so it may pass a checkpoint header's 1 MiB: 20,000 steps do."""
    history = History()
    history.step_loss = [float(x) for x in np.random.default_rng(0).random(20_000)]
    history.position = {"epoch": 3, "step": 2, "order": np.arange(6, dtype=np.int64)}
    buffers = {0: {"momentum_buffer": np.ones((2, 3), np.float32)}, 1: {"momentum_buffer": np.zeros(2)}}
    optimizer = types.SimpleNamespace(state_dict=lambda: {"state": buffers, "param_groups": [{"lr": 0.1}]})
    path = resume.save(tmp_path / "m.resume.npz", {"seed": 1}, history, optimizer)
    assert os.path.getsize(path) > checkpoint.MAX_HEADER_BYTES
    run, state, sgd = resume.read(path)
    assert run == {"seed": 1, "steps": 20_000} and state["step_loss"] == history.step_loss
    np.testing.assert_array_equal(state["position"].pop("order"), np.arange(6))
    assert state["position"] == {"epoch": 3, "step": 2} and sgd["param_groups"] == [{"lr": 0.1}]
    assert set(sgd["state"]) == {0, 1}
    for i, entry in buffers.items():
        read_back = sgd["state"][i]["momentum_buffer"]
        np.testing.assert_array_equal(read_back, entry["momentum_buffer"])
        assert read_back.dtype == entry["momentum_buffer"].dtype
