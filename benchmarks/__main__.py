"""python -m benchmarks [--quick] [--models ...] [--batch-sizes ...] [--repeats N] [--steps N] [--out DIR] [--no-memory]"""
from minicnn.benchmark import main

raise SystemExit(main())
