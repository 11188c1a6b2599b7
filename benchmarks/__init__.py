"""minicnn's benchmarks: ``python -m benchmarks`` runs ``minicnn.benchmark.main``.

The harness itself lives in ``minicnn/benchmark.py`` so that the installed
``minicnn bench`` command has it too; see benchmarks/README.md.
"""
