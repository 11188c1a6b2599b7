"""python -m benchmarks [--quick] [--models ...] [--batch-sizes ...] [--repeats N] [--steps N]
[--contenders ...] [--baseline DIR] [--out DIR] [--no-memory]"""
from .run import main

raise SystemExit(main())
