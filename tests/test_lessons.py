"""The lessons: every notebook runs top to bottom in a fresh kernel, and the exercise helpers work.

Each ``lessons/*.ipynb`` is executed with nbclient in fast mode (MINICNN_FAST=1: less
data, same code path), from a working directory outside lessons/ (nothing in a lesson
may depend on where the kernel starts: the helpers come from the installed package
``minicnn_lessons``). Any error in any cell fails the test with that cell's traceback.
"""
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
CELL_TIMEOUT = 600          # seconds one cell may run in fast mode before the test fails


@pytest.fixture(scope="session")
def lessons_dir(tmp_path_factory):
    """What the lessons save (lesson 06's model, read by 07-09), shared by this session's runs."""
    return tmp_path_factory.mktemp("lessons-work")


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, data_dir, monkeypatch, tmp_path, lessons_dir):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MINICNN_FAST", "1")
    monkeypatch.setenv("MINICNN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MINICNN_LESSONS_DIR", str(lessons_dir))
    monkeypatch.delenv("MINICNN_BACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    elsewhere = tmp_path / "elsewhere"                  # not lessons/, not the repository
    elsewhere.mkdir()
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(elsewhere)}})
    client.execute()       # raises CellExecutionError, with the failing cell's traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{path.name}: a cell produced an error output: {errors[0]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_cells_are_what_its_markdown_source_builds(path):
    """lessons/_build/NN_*.md is the source: a notebook edited by hand would be lost at the next build."""
    pytest.importorskip("jupytext")
    sys.path.insert(0, str(LESSONS / "_build"))
    try:
        build = importlib.import_module("build")
    finally:
        sys.path.remove(str(LESSONS / "_build"))
    built = build.build(LESSONS / "_build" / f"{path.stem}.md")
    committed = json.loads(path.read_text())
    assert [(c.cell_type, c.source) for c in built.cells] == \
        [(c["cell_type"], "".join(c["source"])) for c in committed["cells"]], \
        f"{path.name} differs from lessons/_build/{path.stem}.md: edit the source and rebuild"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_holds_the_outputs_of_one_full_run(path):
    """Readable on GitHub: every code cell ran, in order, in one kernel, without an error."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: code cells were not all run once, top to bottom, in a fresh kernel "
        f"(execution counts {counts}); rebuild it with lessons/_build/build.py --execute")
    errors = [c["source"] for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: the committed notebook shows an error in cell {errors[0]!r}"
    assert any(c["outputs"] for c in code), f"{path.name}: no cell has any output"


@pytest.fixture
def solutions():
    """The lessons' helpers, from the installed package, as a notebook imports them."""
    return importlib.import_module("minicnn_lessons")


def _build_script():
    sys.path.insert(0, str(LESSONS / "_build"))
    try:
        return importlib.import_module("build")
    finally:
        sys.path.remove(str(LESSONS / "_build"))


def test_the_setup_cell_installs_from_the_address_the_lessons_readme_gives():
    build = _build_script()
    assert build.repository() in build.SETUP
    assert build.repository() in (LESSONS / "README.md").read_text()
    for path in NOTEBOOKS:
        first_code = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert "".join(first_code["source"]) == build.SETUP, f"{path.name}: the first code cell is not SETUP"


def test_every_notebook_opens_in_colab_from_the_one_repository_address():
    build = _build_script()
    owner_and_name = build.repository().removeprefix("https://github.com/")
    for path in NOTEBOOKS:
        title = "".join(json.loads(path.read_text())["cells"][0]["source"])
        badge = f"https://colab.research.google.com/github/{owner_and_name}/blob/main/lessons/{path.name}"
        assert "[![Open in Colab]" in title and f"]({badge})" in title, f"{path.name}: no Colab badge"


def test_the_course_prose_stays_within_its_word_budget():
    """All lessons' Markdown cells together: a course one can read through, not a book."""
    pytest.importorskip("jupytext")
    build = _build_script()
    counts = {p.name: build.words(p) for p in sorted((LESSONS / "_build").glob("[0-9][0-9]_*.md"))}
    assert sum(counts.values()) <= build.WORD_BUDGET, (
        f"{sum(counts.values()):,} words of prose, more than {build.WORD_BUDGET:,}: {counts}")


def test_an_unwritten_exercise_falls_back_to_the_solution(solutions, capsys):
    @solutions.exercise("lesson00")
    def to_batch(images):
        return None

    images = np.full((2, 3, 3), 255, dtype=np.uint8)
    out = to_batch(images)
    assert to_batch.used_solution is True
    assert out.shape == (2, 1, 3, 3) and out.dtype == np.float32 and float(out.max()) == 1.0
    assert "show_solution(to_batch) prints the solution" in capsys.readouterr().out


def test_a_written_exercise_is_used_and_a_wrong_one_is_reported(solutions, capsys):
    @solutions.exercise("lesson00")
    def to_batch(images):
        return images[:, None].astype(np.float32)      # forgot to divide by 255

    images = np.full((2, 3, 3), 255, dtype=np.uint8)
    out = to_batch(images)
    assert to_batch.used_solution is False and float(out.max()) == 255.0
    solutions.check_close(to_batch, out, images[:, None] / 255.0, against="the right answer")
    text = capsys.readouterr().out
    assert "✗ your to_batch differs" in text and "yours is 255" in text


def test_a_wrong_solution_fails_loudly(solutions):
    """If a solution (not the learner) is wrong, the check raises, so CI fails."""
    @solutions.exercise("lesson00")
    def to_batch(images):
        return None

    out = to_batch(np.zeros((1, 2, 2), dtype=np.uint8))
    with pytest.raises(AssertionError, match="minicnn_lessons/lesson00.py failed its own check"):
        solutions.check_close(to_batch, out, np.ones((1, 1, 2, 2)), against="a wrong expectation")


@pytest.mark.parametrize("got, message", [
    (None, "returned None"),
    (np.zeros((1, 2), dtype=np.float32), "returned shape (1, 2)"),
    (np.zeros((2, 2), dtype=np.float64), "returned dtype float64, expected float32"),
    (np.array([[0.0, np.nan], [0.0, 0.0]], dtype=np.float32), "differs"),
])
def test_check_close_names_what_is_wrong(solutions, capsys, got, message):
    def mine(x):
        return x
    mine.used_solution, mine.lesson = False, "lesson00"
    solutions.check_close(mine, got, np.zeros((2, 2)), against="zeros", dtype=np.float32)
    text = capsys.readouterr().out
    assert text.startswith("✗ your mine") and message in text


def test_check_close_accepts_matching_infinities(solutions, capsys):
    def mine(x):
        return x
    mine.used_solution, mine.lesson = False, "lesson03"
    expected = np.array([-np.inf, 0.0, 1.0])
    solutions.check_close(mine, expected.copy(), expected, against="itself")
    assert capsys.readouterr().out.startswith("✓ your mine matches itself")
