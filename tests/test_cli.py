"""The minicnn command line end to end on small real subsets: train, evaluate, predict, errors."""
import re
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import cli
from minicnn.data import QUICKDRAW_LOCAL_CATEGORIES


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``minicnn argv...``, run in this process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained_file(tmp_path_factory, data_dir):
    """`minicnn train` on 3,000 MNIST digits (500 of them held out for validation), 2 epochs,
    tested on 500: the saved file and output."""
    path = tmp_path_factory.mktemp("cli") / "digits.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "minicnn", "train", "--limit", "3000", "--val-size", "500",
         "--test-limit", "500", "--epochs", "2", "--batch-size", "32", "--out", str(path), "--no-download",
         "--data-dir", str(data_dir), "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return path, proc.stdout


def test_train_prints_validation_every_epoch_and_test_once_and_saves_the_settings(trained_file):
    path, out = trained_file
    assert ("training lenet on mnist: 2,500 training images, 500 validation images (held out of "
            "the training set, split seed 0), 500 test images, 10 classes") in out
    epochs = re.findall(r"^epoch (\d)/2: train loss [\d.]+, train accuracy [\d.]+%, val loss "
                        r"[\d.]+, val accuracy ([\d.]+)%, [\d.]+ s \([\d,]+ images/s\)$", out, re.M)
    assert [e for e, _ in epochs] == ["1", "2"], out
    assert out.count("test accuracy") == 1 and out.count("test loss") == 0
    final = float(re.search(r"^test accuracy, measured once after training: ([\d.]+)% "
                            r"\(500 test images\)$", out, re.M).group(1))
    assert final > 85.0, out
    assert out.index("test accuracy") > out.index("epoch 2/2")
    assert f"saved the model to {path}" in out
    model = mc.Sequential.load(path)
    meta = model.metadata
    assert meta["classes"] == [str(i) for i in range(10)]
    assert meta["dataset"] == "mnist" and meta["model"] == "lenet"
    assert meta["input_shape"] == [1, 28, 28] and meta["trained"] is True
    assert meta["test_accuracy"] == pytest.approx(final / 100, abs=5e-5)
    assert meta["val_accuracy"] == pytest.approx(float(epochs[-1][1]) / 100, abs=5e-5)
    assert (meta["val_size"], meta["split_seed"], meta["train_images"]) == (500, 0, 2500)
    assert meta["augment"] == ({"degrees": 10.0, "translate": [0.1, 0.1]} if cli.DEFAULTS["augment"]
                               else None)
    assert meta["epochs"] == 2 and meta["lr"] == cli.DEFAULTS["lr"]


def test_evaluate_prints_accuracy_per_class_and_confusion(trained_file, mnist, capsys):
    path, train_out = trained_file
    code, out, err = run(capsys, "evaluate", path, "--limit", 500, "--no-download")
    assert code == 0, err
    final = re.search(r"test accuracy, measured once after training: ([\d.]+)%", train_out).group(1)
    assert f"accuracy {final}%" in out                       # the same 500 test digits
    per_class = re.findall(r"^\s*(\d) +([\d.]+)% +(\d+)$", out, flags=re.M)
    assert [int(c) for c, _, _ in per_class] == list(range(10))
    counts = np.bincount(mnist[3][:500], minlength=10)
    assert [int(n) for _, _, n in per_class] == counts.tolist()
    matrix_text = out.split("confusion matrix (rows: true class, columns: predicted class)")[1]
    rows = [list(map(int, line.split()[1:])) for line in matrix_text.strip().splitlines()[1:]]
    confusion = np.array(rows)
    assert confusion.shape == (10, 10)
    assert confusion.sum(axis=1).tolist() == counts.tolist()
    assert np.trace(confusion) / 500 == pytest.approx(float(final) / 100, abs=5e-5)
    for (_, acc, n), row, i in zip(per_class, confusion, range(10)):
        assert float(acc) == pytest.approx(100 * row[i] / int(n), abs=0.006)


@pytest.mark.parametrize("invert", [False, True], ids=["white-on-black", "black-on-white"])
def test_predict_a_png_of_a_real_test_digit(trained_file, mnist, tmp_path, capsys, invert):
    Image = pytest.importorskip("PIL.Image")
    from minicnn.drawing import preprocess_drawing
    from minicnn.train import predict_proba
    path, _ = trained_file
    model = mc.Sequential.load(path)
    # The first test digit that the saved model gets right, drawn large as a user would.
    probs = predict_proba(model, mnist[2][:50])
    i = int(np.flatnonzero(probs.argmax(axis=1) == mnist[3][:50])[0])
    digit = mnist[2][i]
    png = tmp_path / "digit.png"
    Image.fromarray(255 - digit if invert else digit).resize((140, 140)).save(png)

    code, out, err = run(capsys, "predict", path, png)
    assert code == 0, err
    lines = re.findall(r"^(\d)\. (\S+) +([\d.]+)%$", out, flags=re.M)
    assert [int(r) for r, _, _ in lines] == [1, 2, 3]
    shown = [float(p) for _, _, p in lines]
    assert shown == sorted(shown, reverse=True) and sum(shown) <= 100.01
    expected = predict_proba(model, preprocess_drawing(Image.open(png))[None])[0]
    assert lines[0][1] == str(expected.argmax())
    assert shown[0] == pytest.approx(100 * expected.max(), abs=0.006)
    assert lines[0][1] == str(mnist[3][i]), out


@pytest.mark.parametrize("augment", [True, False])
def test_train_on_quickdraw_uses_the_local_categories(tmp_path, data_dir, capsys, augment):
    out_file = tmp_path / "doodles.npz"
    code, out, err = run(capsys, "train", "--dataset", "quickdraw", "--max-per-class", 60,
                         "--val-size", 80, "--augment" if augment else "--no-augment",
                         "--epochs", 1, "--out", out_file, "--no-progress", "--no-download")
    assert code == 0, err
    assert "using the ten local ones" in out and ", ".join(QUICKDRAW_LOCAL_CATEGORIES) in out
    assert "400 training images, 80 validation images" in out and "120 test images" in out
    assert ("augmentation: RandomAffine(degrees=10, translate=(0.1, 0.1))" if augment
            else "augmentation: none") in out
    meta = mc.Sequential.load(out_file).metadata
    assert meta["classes"] == list(QUICKDRAW_LOCAL_CATEGORIES) and meta["max_per_class"] == 60
    assert meta["val_size"] == 80
    assert meta["augment"] == ({"degrees": 10.0, "translate": [0.1, 0.1]} if augment else None)
    code, out, err = run(capsys, "evaluate", out_file, "--no-download")
    assert code == 0, err
    assert "quickdraw test set (120 images)" in out and "penguin" in out


def test_help_explains_every_flag(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("train", "evaluate", "predict", "bench"):
        assert command in out
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "train" in a.choices).choices
    for command in ("train", "evaluate", "predict"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0
        for action in subparsers[command]._actions:
            assert action.help, f"{command} {action.option_strings or action.dest} has no help"
            for flag in action.option_strings:
                assert flag in out


@pytest.mark.parametrize("argv, words", [
    (["train", "--epochs", "-1"], "--epochs: must be at least 1, received -1"),
    (["train", "--epochs", "two"], "--epochs: expected a whole number"),
    (["train", "--lr", "0"], "--lr: must be a number greater than 0"),
    (["train", "--lr", "nan"], "--lr: must be a number greater than 0"),
    (["train", "--momentum", "1.5"], "--momentum: must be in [0, 1)"),
    (["train", "--batch-size", "0"], "--batch-size: must be at least 1"),
    (["train", "--val-size", "-1"], "--val-size: must be 0 or more, received -1"),
    (["train", "--limit", "100", "--val-size", "100", "--no-download"],
     "--val-size 100 leaves no training images: the training set has 100 (use at most 99, or 0)"),
    (["train", "--dataset", "cifar10"], "invalid choice: 'cifar10'"),
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--categories", "cat,dog"], "--categories and --max-per-class only apply"),
    (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["evaluate"], "the following arguments are required: MODEL"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_a_bad_flag_gives_one_line_and_exit_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_a_missing_or_broken_model_file_gives_exit_2(tmp_path, capsys, command):
    png = tmp_path / "x.png"
    png.write_bytes(b"not read")
    extra = [png] if command == "predict" else []
    code, _, err = run(capsys, command, tmp_path / "nope.npz", *extra)
    assert code == 2 and "nope.npz does not exist" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.npz"
    broken.write_text("this is not a model")
    code, _, err = run(capsys, command, broken, *extra)
    assert code == 2 and "broken.npz" in err and len(err.strip().splitlines()) == 1


def test_predict_with_a_missing_blank_or_unreadable_image_gives_exit_2(trained_file, tmp_path,
                                                                      capsys):
    Image = pytest.importorskip("PIL.Image")
    path, _ = trained_file
    code, _, err = run(capsys, "predict", path, tmp_path / "absent.png")
    assert code == 2 and "absent.png does not exist" in err
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 0).save(blank)
    code, _, err = run(capsys, "predict", path, blank)
    assert code == 2 and "blank" in err and len(err.strip().splitlines()) == 1
    text = tmp_path / "notes.png"
    text.write_text("hello")
    code, _, err = run(capsys, "predict", path, text)
    assert code == 2 and "cannot read" in err and len(err.strip().splitlines()) == 1


def test_missing_data_gives_exit_2_without_downloading(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--data-dir", tmp_path, "--no-download", "--epochs", 1)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(tmp_path) in err


def test_python_dash_m_minicnn_exits_2_on_a_bad_flag():
    proc = subprocess.run([sys.executable, "-m", "minicnn", "train", "--epochs", "-3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("minicnn train: error: argument --epochs: must be at least 1, "
                                   "received -3 (see minicnn train --help)")


def test_train_saves_under_runs_with_the_usual_permissions_and_says_how_a_batch_runs(tmp_path, data_dir):
    """The default model file goes to runs/ (ignored by git), readable by others as any new file;
    a batch of 64 on a multi-core CPU runs on DataParallel and says so, --workers 1 does not."""
    outputs = {}
    for workers in (None, 1):
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        argv = [sys.executable, "-m", "minicnn", "train", "--limit", "320", "--val-size", "64",
                "--test-limit", "100",
                "--epochs", "1", "--batch-size", "64", "--no-download", "--data-dir", str(data_dir),
                "--no-progress"] + ([] if workers is None else ["--workers", str(workers)])
        proc = subprocess.run(["bash", "-c", 'umask 022 && exec "$@"', "bash", *argv], cwd=folder,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        saved = folder / "runs" / "mnist-lenet.npz"
        assert saved.is_file() and f"saved the model to {saved.relative_to(folder)}" in proc.stdout
        assert saved.stat().st_mode & 0o777 == 0o644
        assert [p.name for p in folder.iterdir()] == ["runs"]
        outputs[workers] = proc.stdout
    from minicnn.models import lenet
    splits = len(mc.DataParallel(lenet()).chunk_bounds(64)) > 1
    assert ("DataParallel: each batch of 64 runs as" in outputs[None]) == splits, outputs[None]
    assert "DataParallel" not in outputs[1]


def test_version_prints_the_packages_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"minicnn {mc.__version__}\n" and err == ""


def test_quiet_train_prints_only_the_result_and_errors_still_reach_stderr(tmp_path, data_dir, capsys):
    path = tmp_path / "quiet.npz"
    # batch 64 on several cores is split by DataParallel, which train announces: silenced too
    code, out, err = run(capsys, "train", "--quiet", "--limit", 600, "--val-size", 100, "--test-limit", 100,
                         "--epochs", 1, "--batch-size", 64, "--progress", "--out", path, "--no-download",
                         "--data-dir", data_dir)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0] == f"saved the model to {path}", out
    assert lines[1].startswith("test accuracy, measured once after training: ") and err == "" and path.exists()

    code, out, err = run(capsys, "evaluate", "-q", path, "--dataset", "fashion-mnist", "--limit", 100,
                         "--no-download", "--data-dir", data_dir)
    assert code == 0 and "note:" not in out and "accuracy" in out, err

    code, out, err = run(capsys, "evaluate", "--quiet", tmp_path / "missing.npz")
    assert code == 2 and out == "" and err.startswith("minicnn evaluate: error: ") and "missing.npz" in err
