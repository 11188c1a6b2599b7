"""The README's example runs as written, on the real MNIST, in a fresh process."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_example():
    """The first ```python block of README.md."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


@pytest.mark.timeout(900)
def test_the_readme_example_runs(tmp_path, data_dir):
    code = readme_example()
    assert "opt.zero_grad()" in code and "model.backward" in code
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "MINICNN_DATA_DIR": str(data_dir)})
    assert proc.returncode == 0, proc.stderr
    accuracy = float(re.search(r"validation accuracy: ([\d.]+)%", proc.stdout).group(1))
    assert accuracy > 95.0, proc.stdout                      # one epoch of lenet on 55,000 digits
    assert "gradcheck passed" in proc.stdout, proc.stdout
    assert "total" in proc.stdout and "34,808" in proc.stdout   # the summary table: lenet's parameters
    assert (tmp_path / "lenet.npz").is_file()
