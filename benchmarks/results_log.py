"""The append-only results files of the small measuring scripts (micro.py, page_faults.py)."""
import datetime
import os
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def header(command, note=""):
    """A table's first line: when it ran, the command, the load average (and a note)."""
    return (f"# {datetime.datetime.now().isoformat(timespec='seconds')}: {command}; "
            f"load average {os.getloadavg()[0]:.2f}" + (f"; {note}" if note else ""))


def append(path, lines):
    """Append a table (lines of text, then a blank line) to a results file; say where it went."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n\n")
    print(f"appended to {path}")
    return lines
