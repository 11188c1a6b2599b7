"""Writing a file the user asked for, without losing anything: checked first (``check_output``, before an hour of
training), replaced atomically (``write_atomically``). Only regular files are written: writing "over" a folder, a
device such as /dev/null, a FIFO or a socket would replace it for every program. A symlink is written through to
its target, as ``np.save`` and ``torch.save`` do."""
import contextlib
import os
import shutil
import stat
import tempfile

from .interrupts import deferred_signals

# Room kept free beyond the file itself: a disk filled to the last byte breaks other programs.
SPARE_BYTES = 16 << 20
# What a path that is not a regular file is, in words, by its type (``stat.S_IFMT``).
_NOT_A_FILE = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
              stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}


def check_output(path, overwrite=True, size=0, flag=""):
    """The file writing ``path`` replaces (a symlink's target), checked before any work: an existing one only with
    ``overwrite`` (else FileExistsError), room for ``size`` bytes; else an OSError naming ``flag`` ("--out")."""
    path = os.fspath(path)
    named = f"{flag} {path}" if flag else path
    target = os.path.realpath(path)                  # a symlink is written through
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):  # the folders below say why
        st = None
    except OSError as e:                             # a symlink loop, no permission
        raise OSError(f"cannot write {named}: {e.strerror}") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            kind = _NOT_A_FILE.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise OSError(f"cannot write {named}: it is {kind}; minicnn writes only regular files")
        if not overwrite:
            raise FileExistsError(f"{named} already exists; choose another name, or add --overwrite to replace it")
        if not os.access(target, os.W_OK):
            raise OSError(f"cannot write {named}: the file is read-only")
    # Missing folders are created when the file is written; the nearest existing one must let us create files.
    folder = os.path.dirname(target)
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise OSError(f"cannot write {named}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(f"cannot write {named}: no permission to create files in {folder}")
    free = shutil.disk_usage(folder).free
    if size and free < size + SPARE_BYTES:
        raise OSError(f"cannot write {named}: {folder} has {free / 2**20:.0f} MiB free, "
                      f"the file needs {size / 2**20:.1f} MiB")
    return target


def write_atomically(path, write, verify=None, overwrite=True, defer_signals=True, suffix=".tmp"):
    """Write a hidden temporary file (ending in ``suffix``) beside ``path`` with ``write(binary_file)``, check it with
    ``verify(tmp_path)`` (which raises), then ``os.replace`` it over ``path``, atomically: a reader sees the old file
    or the new one, never half. Returns the path written (a symlink's target); leaves nothing on an error or signal;
    keeps an old mode. Ctrl-C and kill wait for the rename, unless ``defer_signals`` is False (a download: they
    must stop it at once; wrap the call in ``interrupts.raise_on_termination`` so kill too removes the file)."""
    target = check_output(path, overwrite)           # again: the path may have changed since
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    with deferred_signals() if defer_signals else contextlib.nullcontext():
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=suffix, dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())                 # on the disk before it takes the name
            if verify is not None:
                verify(tmp)
            # mkstemp made the file private (0600); give it the old file's permissions, or 0666 less the umask.
            mode = stat.S_IMODE(os.stat(target).st_mode) if os.path.exists(target) else 0o666 & ~_umask()
            os.chmod(tmp, mode)
            # Another program could create the file after check_output: a window of milliseconds, one file lost.
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    return target


def _umask():
    mask = os.umask(0)     # the only way to read the umask is to set it; put it straight back
    os.umask(mask)
    return mask
