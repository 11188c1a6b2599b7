"""minicnn installs as itself: its own name on the package index, metadata kept in one place, a
wheel and an sdist with what they should hold, and a lessons setup cell that installs minicnn in a
fresh kernel or says in one sentence why it could not."""
import importlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import minicnn
from minicnn.optional import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What a wheel is built from: the package's own files, and tests/ to prove the sdist leaves it out.
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "minicnn", "minicnn_lessons", "tests"]


def lessons_build():
    sys.path.insert(0, str(ROOT / "lessons" / "_build"))
    try:
        return importlib.import_module("build")
    finally:
        sys.path.remove(str(ROOT / "lessons" / "_build"))


def test_the_name_on_the_package_index_is_written_once_and_every_install_hint_uses_it():
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == lessons_build().DISTRIBUTION
    assert minicnn.__name__ == "minicnn"                            # what you import stays
    assert PYPROJECT["project"]["scripts"] == {"minicnn": "minicnn.cli:run"}  # and what you run
    # `pip install "minicnn[...]"` would install the other project of that name.
    hints = []
    for path in ROOT.glob("**/*"):
        if (path.suffix not in {".py", ".md", ".toml", ".sh", ".ipynb", ".txt"} or ".venv" in path.parts
                or "results" in path.parts or not path.is_file()):         # results: recorded output
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":                                 # sources only: outputs are re-run
            text = "".join("".join(c["source"]) for c in json.loads(text)["cells"])
        hints += [f"{path.relative_to(ROOT)}: {m}" for m in re.findall(r"\bminicnn\[[\w-]+\]", text)]
    assert not hints, hints


def test_the_repository_address_is_kept_in_pyproject_and_the_setup_cell_reads_it():
    build = lessons_build()
    assert build.REPOSITORY == PYPROJECT["project"]["urls"]["Repository"]
    assert f'"{DISTRIBUTION}[lessons] @ git+{build.REPOSITORY}"' in build.SETUP
    for doc in ("README.md", "lessons/README.md"):               # where the docs quote it
        quoted = re.findall(r"git\+(https://[^\s\"`]+)", (ROOT / doc).read_text())
        assert quoted and set(quoted) == {build.REPOSITORY}, (doc, quoted)


def test_the_package_list_is_complete():
    find_packages = pytest.importorskip("setuptools").find_packages
    listed = PYPROJECT["tool"]["setuptools"]["packages"]
    assert sorted(listed) == sorted(find_packages(ROOT, include=["minicnn", "minicnn.*", "minicnn_lessons"]))
    assert PYPROJECT["project"]["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """(sdist, wheel) built from a copy of the sources with setuptools' own backend."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"building needs setuptools >= 77, this environment has {setuptools.__version__}")
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                          if (ROOT / name).is_dir() else {}))
    return build_in(src, out)


def build_in(src, out):
    code = ("import sys; from setuptools import build_meta as b; "     # (b rewrites sys.argv)
            "out = sys.argv[1]; b.build_sdist(out); b.build_wheel(out)")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return sdist, wheel


def test_the_wheel_holds_the_two_packages_the_license_and_the_metadata(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {n.split("/")[0] for n in names if not n.startswith("minicnn_by_hand-")} == {"minicnn",
                                                                                     "minicnn_lessons"}
    assert f"Name: {DISTRIBUTION}\n" in metadata and f"Version: {minicnn.__version__}\n" in metadata
    assert "License-Expression: MIT" in metadata and any(n.endswith("licenses/LICENSE") for n in names)
    assert "Project-URL: Repository, " in metadata and "Classifier: Programming Language :: Python :: 3.10" in metadata


def test_the_sdist_leaves_the_tests_out_and_builds_the_same_wheel(dist, tmp_path):
    sdist, wheel = dist
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data") if sys.version_info >= (3, 12) else tar.extractall(tmp_path)
    top = names[0].split("/")[0]
    # The tests need the repository around them (benchmarks/, lessons/, the datasets): not shipped.
    assert not [n for n in names if "/tests/" in n or n.endswith("/tests")], names
    assert f"{top}/LICENSE" in names and f"{top}/minicnn/backend.py" in names
    _, rebuilt = build_in(tmp_path / top, tmp_path / "out")
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(rebuilt) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


# -- the lessons' setup cell, in a fresh kernel that has never seen minicnn -----------------------

@pytest.fixture(scope="session")
def fresh_kernel(tmp_path_factory):
    """The name of a Jupyter kernel in a new virtual environment with ipykernel and nothing else."""
    nbclient = pytest.importorskip("nbclient")
    home = tmp_path_factory.mktemp("fresh-kernel")
    subprocess.run([sys.executable, "-m", "venv", home / "venv"], check=True, timeout=120)
    python = home / "venv" / "bin" / "python"
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "ipykernel"], capture_output=True,
                         text=True, timeout=300)
    if pip.returncode != 0:
        pytest.skip(f"cannot install ipykernel into a new environment (offline?): "
                    f"{pip.stderr.strip().splitlines()[-1:]}")
    spec = home / "jupyter" / "kernels" / "fresh"
    spec.mkdir(parents=True)
    # PYTHONPATH emptied: the kernel must not find this checkout's minicnn by way of the tests' own.
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh", "language": "python", "env": {"PYTHONPATH": ""}}))
    return nbclient, home


def run_cells(fresh_kernel, monkeypatch, *cells):
    """The notebook of these code cells, executed in the fresh kernel from an empty folder."""
    import nbformat
    nbclient, home = fresh_kernel
    monkeypatch.setenv("JUPYTER_PATH", str(home / "jupyter"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    (home / "work").mkdir(exist_ok=True)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="fresh",
                            resources={"metadata": {"path": str(home / "work")}}).execute()
    return nb


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_setup_cell_fails_in_one_sentence_then_installs_from_a_reachable_wheel(
        fresh_kernel, dist, monkeypatch):
    build, (_, wheel) = lessons_build(), dist
    nbclient = fresh_kernel[0]
    # An address nothing answers at (port 9, discard): pip fails, and the cell must stop there.
    with pytest.raises(nbclient.exceptions.CellExecutionError) as e:
        run_cells(fresh_kernel, monkeypatch, build.setup_cell(f"http://127.0.0.1:9/{wheel.name}"),
                  "import matplotlib")
    assert e.value.ename == "RuntimeError", e.value                  # not the next cell's import
    assert "\n" not in e.value.evalue and e.value.evalue.startswith("pip could not install ") and \
        e.value.evalue.endswith("check that this runtime is online, then run this cell again."), e.value

    nb = run_cells(fresh_kernel, monkeypatch, build.setup_cell(wheel.as_uri()),
                   "import minicnn, minicnn_lessons, matplotlib, ipywidgets, ipycanvas\n"
                   "print(minicnn.__version__, minicnn.__file__)")
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert printed.startswith(minicnn.__version__) and str(fresh_kernel[1]) in printed, printed
