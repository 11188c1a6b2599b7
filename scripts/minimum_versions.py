"""Print a pip constraints file that pins each dependency of the chosen extras to the minimum
version pyproject.toml declares, so a test run can prove those minimums really work.

    python scripts/minimum_versions.py train viz lessons > constraints.txt

Only `name>=X` requirements (with or without an upper bound) are pinned (`name==X`); a name listed in several of the extras
gets the highest of its minimums, which is what pip would have to install for all of them.
"""
import re
import sys
from pathlib import Path

try:
    import tomllib                    # Python 3.11+
except ImportError:                   # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def minimum_pins(extras):
    """{name: minimum version} over the core dependencies and ``extras``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*(,.*)?", requirement.split(";")[0].strip())
        if match:
            name, version = match[1].lower(), match[2]
            old = pins.get(name)
            key = [int(p) for p in version.split(".")]
            if old is None or key > [int(p) for p in old.split(".")]:
                pins[name] = version
    return pins


if __name__ == "__main__":
    for name, version in sorted(minimum_pins(sys.argv[1:]).items()):
        print(f"{name}=={version}")
