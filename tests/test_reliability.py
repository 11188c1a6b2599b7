"""Issue 20: nothing a user made is lost. Interrupted runs are saved and resume exactly, no
file is replaced unasked, output paths are checked before training and only regular files
are written, and the command line answers every failure in one line (docs/reliability.md).

No test touches a real device file or writes outside its temporary folder: a FIFO is made
with os.mkfifo in tmp_path, and a character device is a stat result the test pretends.
"""
import os
import re
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn import checkpoint, cli
from minicnn.interrupts import Terminated, raise_on_termination
from minicnn.models import lenet
from minicnn.output_files import check_output, write_atomically
from minicnn.resume import resume_path

# 256 training images in 8 steps of 32, 64 for validation; one core, so runs are comparable.
TINY = ["--limit", "320", "--val-size", "64", "--test-limit", "100", "--batch-size", "32",
        "--no-progress", "--no-download", "--workers", "1"]
# Two steps: for the tests that only need a saved file.
TWO_STEPS = ["--limit", "100", "--val-size", "0", "--test-limit", "50", "--epochs", "1",
             "--batch-size", "50", "--no-progress", "--no-download", "--workers", "1"]


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``minicnn argv...``, run in this process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def start_train(data_dir, *argv):
    return subprocess.Popen([sys.executable, "-m", "minicnn", "train", *map(str, argv),
                             "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_after(proc, line_start, *signals, gap=0.0):
    """Send ``signals`` once stdout shows a line starting with ``line_start``; (out, err, seconds
    from the first signal to the exit)."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(line_start):
            break
    sent = time.monotonic()
    for s in signals:
        proc.send_signal(s)
        time.sleep(gap)
    rest, err = proc.communicate(timeout=300)
    return "".join(lines) + rest, err, time.monotonic() - sent


def weights(path):
    return [mc.to_numpy(p.data) for p in mc.Sequential.load(path).parameters()]


def one_line(err):
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- 1. interrupted runs lose nothing, and resume exactly ------------------------------------

def test_ctrl_c_saves_says_where_and_resume_ends_with_the_same_weights(tmp_path, data_dir):
    whole, cut = tmp_path / "whole.npz", tmp_path / "cut.npz"
    done = subprocess.run([sys.executable, "-m", "minicnn", "train", *TINY, "--epochs", "3",
                           "--out", str(whole), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(resume_path(whole))      # finished: nothing left to resume

    out, err, seconds = signal_after(start_train(data_dir, *TINY, "--epochs", 3, "--out", cut),
                                     "epoch 1/3:", signal.SIGINT)
    assert "Traceback" not in err and seconds < 30
    assert "training stopped early: interrupted (Ctrl-C)" in out, out + err
    assert f"continue with: minicnn train --resume {cut}" in out
    assert "the test set was not scored" in out and "test accuracy" not in out
    meta = mc.Sequential.load(cut).metadata
    assert meta["complete"] is False and 8 <= meta["steps"] < 24 and meta["test_accuracy"] is None
    assert os.path.exists(resume_path(cut))

    resumed = subprocess.run([sys.executable, "-m", "minicnn", "train", "--resume", str(cut),
                              "--no-progress", "--no-download", "--data-dir", str(data_dir)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {cut} after {meta['steps']} steps" in resumed.stdout
    assert "epoch 3/3:" in resumed.stdout and "test accuracy, measured once" in resumed.stdout
    for a, b in zip(weights(cut), weights(whole)):
        np.testing.assert_array_equal(a, b)
    assert mc.Sequential.load(cut).metadata["steps"] == 24
    assert not os.path.exists(resume_path(cut))


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_save_what_exists_and_say_where(tmp_path, data_dir, signum, status):
    cut = tmp_path / "cut.npz"
    out, err, seconds = signal_after(start_train(data_dir, *TINY, "--epochs", 50, "--out", cut),
                                     "epoch 1/50:", signum)
    name = signal.Signals(signum).name
    assert f"training stopped early: interrupted ({name})" in out, out + err
    assert f"saved: {cut} holds the weights after" in out and "Traceback" not in err and seconds < 30
    assert mc.Sequential.load(cut).metadata["steps"] >= 8


def test_a_second_ctrl_c_exits_at_once_and_says_what_was_saved(tmp_path, data_dir):
    cut = tmp_path / "cut.npz"
    proc = start_train(data_dir, *TINY, "--epochs", 50, "--out", cut)
    out, err, seconds = signal_after(proc, "epoch 1/50:", signal.SIGINT, signal.SIGINT, gap=0.01)
    assert proc.returncode == 130 and "Traceback" not in err and seconds < 30
    # Either the second Ctrl-C cut a step short (nothing new saved: stderr says what the file
    # holds), or it came after the stopped run was saved and reported (on stdout), while the
    # process was already ending: then it is ignored, and the exit status stays 130.
    assert re.search(rf"{re.escape(str(cut))} holds the weights after \d+ steps", out + err), out + err
    assert mc.Sequential.load(cut).metadata["steps"] >= 8


def test_ctrl_c_while_scoring_the_test_set_keeps_the_saved_model(tmp_path, data_dir, capsys,
                                                                monkeypatch):
    import minicnn.train
    cut = tmp_path / "cut.npz"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    real = minicnn.train.evaluate
    monkeypatch.setattr(minicnn.train, "evaluate", interrupted)  # --val-size 0: only the test set
    code, out, err = run(capsys, "train", *TWO_STEPS, "--out", cut, "--data-dir", data_dir)
    assert code == 130 and one_line(err)
    assert f"interrupted (Ctrl-C); {cut} holds the weights after 2 steps (epoch 1)" in err
    assert mc.Sequential.load(cut).metadata["test_accuracy"] is None
    monkeypatch.setattr(minicnn.train, "evaluate", real)
    code, out, err = run(capsys, "train", "--resume", cut, "--no-progress", "--data-dir", data_dir)
    assert code == 0, err
    assert "test accuracy, measured once after training" in out and "epoch 1/1" not in out
    assert mc.Sequential.load(cut).metadata["test_accuracy"] is not None


def test_resume_refuses_a_contradicting_flag_a_bad_file_and_a_finished_run(
        tmp_path, data_dir, capsys, monkeypatch):
    import minicnn.train
    path = tmp_path / "m.npz"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    with monkeypatch.context() as m:                  # leaves a run that can be resumed
        m.setattr(minicnn.train, "evaluate", interrupted)
        assert run(capsys, "train", *TWO_STEPS, "--out", path, "--data-dir", data_dir)[0] == 130
    code, out, err = run(capsys, "train", "--resume", path, "--lr", 0.5, "--data-dir", data_dir)
    assert code == 2 and one_line(err) and out == ""
    assert "--lr 0.5 contradicts the run being resumed (0.05)" in err
    code, out, err = run(capsys, "train", "--resume", path, "--limit", 200, "--data-dir", data_dir)
    assert code == 2 and "--limit 200 contradicts the run being resumed (100)" in err

    state_file = tmp_path / "m.resume.npz"
    assert str(state_file) == resume_path(path)
    good = state_file.read_bytes()
    state_file.write_bytes(good[:len(good) // 2])
    code, out, err = run(capsys, "train", "--resume", path, "--data-dir", data_dir)
    assert code == 2 and one_line(err) and "is not a usable minicnn resume file" in err
    state_file.write_bytes(good)

    assert run(capsys, "train", "--resume", path, "--data-dir", data_dir)[0] == 0
    code, _, err = run(capsys, "train", "--resume", path, "--data-dir", data_dir)
    assert code == 2 and one_line(err) and "there is no resume file" in err
    code, _, err = run(capsys, "train", "--resume", tmp_path / "none.npz")
    assert code == 2 and one_line(err) and "none.npz: the file does not exist" in err


# -- 2. no model is replaced without being asked ---------------------------------------------

def test_each_run_gets_a_new_name_and_an_existing_file_is_replaced_only_with_overwrite(
        tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", *TWO_STEPS, "--data-dir", data_dir)
    assert code == 0, err
    first = tmp_path / "runs" / "mnist-lenet.npz"
    before = first.read_bytes()
    code, out, err = run(capsys, "train", *TWO_STEPS, "--data-dir", data_dir)
    assert code == 0, err
    assert "the model will be saved to runs/mnist-lenet-2.npz" in out
    assert "saved the model to runs/mnist-lenet-2.npz" in out
    assert first.read_bytes() == before

    start = time.monotonic()
    code, out, err = run(capsys, "train", *TWO_STEPS, "--out", first, "--data-dir", data_dir)
    assert code == 2 and one_line(err) and time.monotonic() - start < 1.0
    assert "already exists; choose another name, or add --overwrite to replace it" in err
    assert out == "" and first.read_bytes() == before

    code, out, err = run(capsys, "train", *TWO_STEPS, "--out", first, "--overwrite",
                         "--data-dir", data_dir, "--seed", 1)
    assert code == 0, err
    assert "(replacing that file)" in out and first.read_bytes() != before


# -- 3. output paths are checked before training; only regular files are written -------------

def _refused(capsys, data_dir, out):
    start = time.monotonic()
    code, printed, err = run(capsys, "train", *TWO_STEPS, "--out", out, "--data-dir", data_dir)
    assert time.monotonic() - start < 1.0 and printed == ""     # before loading any data
    assert code == 2 and one_line(err)
    return err


def test_a_folder_a_fifo_or_a_file_as_parent_is_refused_before_training(tmp_path, data_dir, capsys):
    assert "it is a folder; minicnn writes only regular files" in _refused(capsys, data_dir, tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "it is a FIFO (named pipe)" in _refused(capsys, data_dir, fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)                 # still a FIFO
    (tmp_path / "file").write_text("x")
    err = _refused(capsys, data_dir, tmp_path / "file" / "sub" / "m.npz")
    assert f"{tmp_path / 'file'} is a file, not a folder" in err


def test_a_character_device_is_refused_without_touching_one(tmp_path, data_dir, capsys,
                                                            monkeypatch):
    pretend = tmp_path / "null"
    real_stat = os.stat

    def fake_stat(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)
        if os.fspath(path) == str(pretend):                       # /dev/null's mode, pretended
            return os.stat_result((stat.S_IFCHR | 0o666,) + tuple(result)[1:])
        return result
    pretend.write_text("")
    monkeypatch.setattr(os, "stat", fake_stat)
    assert "it is a character device" in _refused(capsys, data_dir, pretend)


def test_no_permission_is_refused_before_training(tmp_path, data_dir, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access    # as root every folder is writable: pretend this one is not
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: os.fspath(p) != str(locked)
                        and real_access(p, mode, **kw))
    assert f"no permission to create files in {locked}" in _refused(capsys, data_dir,
                                                                    locked / "m.npz")


def test_a_full_disk_is_refused_before_training(tmp_path):
    with pytest.raises(OSError, match="MiB free, the file needs"):
        check_output(tmp_path / "m.npz", size=1 << 60)


def test_a_symlink_is_written_through_and_permissions_survive_a_re_save(tmp_path):
    model = lenet()
    target, link = tmp_path / "target.npz", tmp_path / "link.npz"
    checkpoint.save(model, target)
    os.chmod(target, 0o600)
    link.symlink_to(target)
    written = checkpoint.save(model, link)
    assert written == str(target) and link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npz", "target.npz"]
    os.chmod(target, 0o444)
    real_access = os.access    # root may write a read-only file: pretend as a user would
    with pytest.MonkeyPatch.context() as m:
        m.setattr(os, "access", lambda p, mode, **kw: not (os.fspath(p) == str(target)
                                                            and mode & os.W_OK)
                  and real_access(p, mode, **kw))
        with pytest.raises(OSError, match="the file is read-only"):
            checkpoint.save(model, target)


def test_no_temporary_file_is_left_by_an_error_or_a_signal(tmp_path):
    def failing(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")
    with pytest.raises(RuntimeError):
        write_atomically(tmp_path / "a.bin", failing)
    assert list(tmp_path.iterdir()) == []

    def signalled(f):
        f.write(b"first half, ")
        os.kill(os.getpid(), signal.SIGTERM)         # held until the file is complete
        f.write(b"second half")
    with pytest.raises(Terminated):
        with raise_on_termination(resend=False):
            write_atomically(tmp_path / "b.bin", signalled)
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]
    assert (tmp_path / "b.bin").read_bytes() == b"first half, second half"


# -- 5. images: 16-bit PNGs and images too large ---------------------------------------------

def test_a_16_bit_png_is_scaled_not_clipped(mnist, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from minicnn.drawing import preprocess_drawing
    digit = mnist[2][0]                                      # a 7, light on dark
    dark_on_light = 255 - digit
    Image.fromarray(dark_on_light).resize((112, 112)).save(tmp_path / "8.png")
    wide = (np.asarray(Image.open(tmp_path / "8.png"), dtype=np.uint16) * 257)  # 0..65535
    Image.fromarray(wide).save(tmp_path / "16.png")
    with Image.open(tmp_path / "8.png") as a, Image.open(tmp_path / "16.png") as b:
        assert b.mode.startswith("I")
        eight, sixteen = preprocess_drawing(a), preprocess_drawing(b)
    np.testing.assert_allclose(sixteen, eight, atol=1e-5)


def _png_header(path, width, height):
    """A PNG that declares width x height pixels (its data is a 1x1 image: never decoded)."""
    import struct
    import zlib
    Image = pytest.importorskip("PIL.Image")
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]                                        # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("side", [8_000, 30_000], ids=["64 Mpx", "900 Mpx, a Pillow bomb"])
def test_an_image_over_the_pixel_limit_is_refused_in_a_sentence(tmp_path, capsys, side):
    from minicnn.drawing.preprocess import MAX_PIXELS
    model = tmp_path / "m.npz"
    lenet().save(model)
    png = tmp_path / "huge.png"
    _png_header(png, side, side)
    code, _, err = run(capsys, "predict", model, png)
    assert code == 2 and one_line(err) and "Warning" not in err
    assert f"{png} is too large to read" in err and f"{MAX_PIXELS:,}" in err
    assert (f"{side:,} x {side:,} pixels" if side * side < 89_478_485 else "decompression bomb") in err


# -- 8. the command line never shows a traceback ---------------------------------------------

def test_an_unexpected_error_is_one_line_with_a_way_to_see_the_traceback(capsys, monkeypatch):
    def broken(args):
        raise TypeError("something inside went wrong")
    monkeypatch.setitem(cli.COMMANDS, "evaluate", broken)
    code, _, err = run(capsys, "evaluate", "m.npz")
    assert code == 1 and one_line(err)
    assert err.strip() == ("minicnn evaluate: unexpected error: TypeError: something inside went "
                           "wrong (run it again with --debug to see the traceback)")
    for argv in (["evaluate", "m.npz", "--debug"], ["--debug", "evaluate", "m.npz"]):
        with pytest.raises(TypeError):
            cli.main(argv)


def test_an_ignored_sighup_stays_ignored_during_training():
    """Under nohup SIGHUP is ignored on purpose: closing the terminal must not stop training."""
    from minicnn.interrupts import StopRequest
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with StopRequest() as stop:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert stop.requested is None
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_loss_that_is_nan_at_the_first_step_exits_as_diverged_not_as_interrupted(capsys):
    """No step finished, so there is no resume position either: the divergence decides the exit status."""
    import types
    from minicnn import cli_train
    from minicnn.train import History
    history = History()
    history.stopped = "the loss became nan at epoch 1, step 1: training diverged; try a lower learning rate"
    files = types.SimpleNamespace(out="runs/x.npz", saved=None, said=lambda: "nothing saved")
    assert cli_train._finish(history, files, 0.0, None, None, None, print) == cli_train.EXIT_DIVERGED
    assert "these weights are not saved" in capsys.readouterr().err


def test_a_run_that_ends_at_an_epoch_end_writes_that_state_once(tmp_path, data_dir, capsys, monkeypatch):
    saves = []
    real = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda model, path, metadata=None, **kw: (
        saves.append(metadata["test_accuracy"]), real(model, path, metadata, **kw))[1])
    code, out, err = run(capsys, "train", *TWO_STEPS, "--out", tmp_path / "r.npz", "--data-dir", data_dir)
    assert code == 0, err
    assert len(saves) == 2 and saves[0] is None and saves[1] is not None   # the epoch's end, then the scored run
