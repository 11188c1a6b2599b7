"""``python -m minicnn ...``: the same as the ``minicnn`` command."""
from .cli import run

run()
