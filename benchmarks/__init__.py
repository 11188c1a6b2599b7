"""minicnn's benchmarks, outside the library: ``python -m benchmarks`` (see README.md here).

run.py       the command: options, the plan, the order of the measurements
harness.py   the parent's side: one process per contender, timings alternating between them
child.py     a contender's process: answers the parent's requests
contender_*  minicnn, PyTorch, JAX and Keras, each imported only in its own process
network.py   the network and batch every contender reads; timing.py, memory.py: the clocks
stats.py, report.py, chart.py, machine.py: medians and ratios, latest.md, latest.png, the machine
micro.py, page_faults.py: small measurements of single choices in the library
threads.py   what a NumPy call costs when two threads call at once (DataParallel's chunks)
"""
