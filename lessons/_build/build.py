"""Build the lesson notebooks from their Markdown sources, and run them.

    python lessons/_build/build.py                # lessons/_build/NN_*.md -> lessons/NN_*.ipynb (no outputs)
    python lessons/_build/build.py --execute      # ... then run each in a fresh kernel, in normal mode,
                                                  #     on the real data, and save it with its outputs
    python lessons/_build/build.py --execute 03   # only the lessons whose file name starts with 03
    python lessons/_build/build.py --keep-outputs # new sources, the committed outputs kept (an edit
                                                  #     that changes no output; --execute later)
    python lessons/_build/build.py --words        # words of prose per lesson (the course keeps <= WORD_BUDGET)

Sources are Jupytext Markdown: prose in Markdown, code in ```python fences; two blank
lines start a new Markdown cell. Edit the source, never the .ipynb, then rebuild.
Run notebooks one at a time (the machine is shared), as this script does.
"""
import argparse
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LESSONS = HERE.parent
ROOT = LESSONS.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _project_field(pattern):
    """One value of pyproject.toml, read with a pattern (this script needs no TOML library)."""
    match = re.search(pattern, (ROOT / "pyproject.toml").read_text(), re.M)
    if match is None:
        sys.exit(f"build.py: pyproject.toml has no line matching {pattern!r}")
    return match[1]


# Where a notebook installs minicnn from when it cannot import it (a fresh Colab runtime): the
# repository in pyproject.toml's [project.urls], the one place the address is kept;
# lessons/README.md quotes it (a test keeps them equal). DISTRIBUTION is the name minicnn is
# installed under (`minicnn` on the package index is another project).
REPOSITORY = _project_field(r'^Repository\s*=\s*"([^"]+)"')
DISTRIBUTION = _project_field(r'^name\s*=\s*"([^"]+)"')
# The whole course's prose, all Markdown cells together, stays short enough to read.
WORD_BUDGET = 24_000


def repository():
    """The project's address on GitHub: the setup cell installs from it, the Colab badge opens it."""
    return REPOSITORY


def colab_badge(notebook):
    """An "Open in Colab" badge (Markdown) for lessons/<notebook>, on the repository's main branch."""
    path = repository().removeprefix("https://github.com/")
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/lessons/{notebook})")


def setup_cell(install_from):
    """The first code cell of every notebook, installing minicnn from ``install_from`` (a pip
    URL: git+https://..., a wheel's file:// path) where it is missing. pip runs as a
    subprocess rather than %pip, whose failure does not stop the cell: this way a failed install
    ends the cell with one sentence instead of a missing module two cells later."""
    return f"""\
# Setup: run this cell first. Where minicnn is missing (a fresh Colab runtime) it installs it
# (about a minute); where minicnn is installed it changes nothing.
import importlib, importlib.util, subprocess, sys
MINICNN = "{DISTRIBUTION}[lessons] @ {install_from}"
if importlib.util.find_spec("minicnn_lessons") is None:
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", MINICNN],
                         capture_output=True, text=True)
    importlib.invalidate_caches()
    if pip.returncode != 0 or importlib.util.find_spec("minicnn_lessons") is None:
        print(pip.stdout[-3000:], pip.stderr[-3000:], sep="\\n", file=sys.stderr)
        raise RuntimeError(f"pip could not install {{MINICNN}} (its messages are above): check "
                           f"that this runtime is online, then run this cell again.")
if "google.colab" in sys.modules:             # Colab shows ipycanvas (the drawing pad) only with this
    from google.colab import output
    output.enable_custom_widget_manager()"""


SETUP = setup_cell(f"git+{repository()}")


def build(source):
    """Read one Markdown source and return it as a notebook with no outputs."""
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    nb.cells[0].source += "\n\n" + colab_badge(source.stem + ".ipynb")     # the title cell
    nb.cells.insert(1, nbformat.v4.new_code_cell(SETUP))
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell.metadata = {}
        cell.id = f"{source.stem[:2]}-{i:02d}"      # stable ids keep git diffs small
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def words(source):
    """The words of prose in one lesson: its Markdown cells, split at white space."""
    import jupytext
    return sum(len(cell.source.split()) for cell in jupytext.read(source).cells if cell.cell_type == "markdown")


def execute(nb, timeout):
    """Run a notebook in a fresh kernel, in normal mode (MINICNN_FAST unset), from a scratch
    folder: nothing in a lesson may depend on the folder it runs in."""
    import tempfile

    from nbclient import NotebookClient

    os.environ.pop("MINICNN_FAST", None)
    os.environ.setdefault("MINICNN_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    with tempfile.TemporaryDirectory() as scratch:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": scratch}}).execute()
    return nb


def keep_outputs(nb, target):
    """``nb`` with the outputs of the committed ``target`` put back, cell by cell: for an edit that
    changes no output (a comment, the setup cell). The notebook must then be re-run with
    --execute before its outputs can be trusted again: this only spares the wait meanwhile."""
    import nbformat

    old = nbformat.read(target, as_version=4)
    if [c.cell_type for c in old.cells] != [c.cell_type for c in nb.cells]:
        sys.exit(f"build.py: {target.name} has other cells than its source builds: run --execute")
    nb.metadata = old.metadata                # language_info and the widgets' saved state
    for new_cell, old_cell in zip(nb.cells, old.cells):
        if new_cell.cell_type == "code":
            new_cell.outputs, new_cell.execution_count = old_cell.outputs, old_cell.execution_count
    return nb


def main(argv=None):
    import nbformat

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefixes", nargs="*", help="build only lessons whose name starts with one of these")
    ap.add_argument("--execute", action="store_true", help="run each notebook and save its outputs")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run (default 1800)")
    ap.add_argument("--keep-outputs", action="store_true",
                    help="keep the committed notebook's outputs (an edit that changes none; "
                         "re-run with --execute later)")
    ap.add_argument("--words", action="store_true", help="count the words of prose and build nothing")
    args = ap.parse_args(argv)

    sources = sorted(p for p in HERE.glob("[0-9][0-9]_*.md")
                     if not args.prefixes or p.name.startswith(tuple(args.prefixes)))
    if not sources:
        sys.exit(f"build.py: no lesson sources in {HERE} match {args.prefixes or 'NN_*.md'}")
    if args.words:
        counts = {source.name: words(source) for source in sources}
        for name, n in counts.items():
            print(f"{n:6,}  {name}")
        print(f"{sum(counts.values()):6,}  in all (the budget: {WORD_BUDGET:,})")
        return
    for source in sources:
        target = LESSONS / (source.stem + ".ipynb")
        nb = build(source)
        if args.execute:
            t0 = time.perf_counter()
            execute(nb, args.timeout)
            print(f"{target.name}: executed in {time.perf_counter() - t0:.0f} s")
        elif args.keep_outputs:
            keep_outputs(nb, target)
        nbformat.write(nb, target)
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
