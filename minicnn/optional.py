"""Optional libraries (Pillow, matplotlib, tqdm, PyTorch, ...), imported when needed: minicnn needs NumPy."""
import importlib

# The name on the package index (pyproject.toml's; a test keeps them equal), where `minicnn` is another project.
DISTRIBUTION = "minicnn-by-hand"


def pip_install(extra):
    """The command that installs minicnn with ``extra``: 'pip install "minicnn-by-hand[viz]"'."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def require(module, who, install, library=None):
    """The imported ``module``, or an ImportError saying who needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{who} needs {library or module.split('.')[0]}, which is not installed: {install}") from None


def optional(module):
    """The imported ``module``, or None where it is not installed (a progress bar, say)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
