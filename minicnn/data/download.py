"""Where datasets live, and how a missing file is fetched safely: only a copy that passes its checks
(length, md5, a custom check) is renamed onto the real name, atomically, so the cache never holds a
half-written or corrupt file. A download ends: each file has a deadline (``timeout``) checked after
every read, and no read waits long, so a server that trickles a byte a second cannot keep it going.
"""
import contextlib
import hashlib
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..interrupts import raise_on_termination
from ..optional import optional
from ..output_files import check_output, write_atomically

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0  # seconds one file may take, from connecting to its last byte
STALL_TIMEOUT = 30.0     # seconds one read may wait for a silent server (less if the deadline is nearer)


class DownloadError(OSError):
    """Every mirror failed for a file; the message lists each URL tried and why."""


def data_root(root=None):
    """The folder holding one sub-folder per dataset: ``root``, else $MINICNN_DATA_DIR, else ~/.cache/minicnn."""
    if root is None:
        root = os.environ.get("MINICNN_DATA_DIR") or Path.home() / ".cache" / "minicnn"
    return Path(root).expanduser()


def file_md5(path):
    """The md5 hex digest of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_once(url, tmp_file, md5, timeout, progress, desc):
    """Stream ``url`` into ``tmp_file``. Raises on a network error, a short body, a timeout or an md5 other than
    ``md5`` (None: not checked)."""
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    h = hashlib.md5(usedforsecurity=False)
    deadline = time.monotonic() + timeout
    # The socket's timeout bounds each wait and the deadline their sum: a file ends within timeout + one wait.
    wait = min(timeout, STALL_TIMEOUT, max(timeout / 10, 0.1))
    with urllib.request.urlopen(request, timeout=wait) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        tqdm = optional("tqdm.auto") if progress else None      # a byte counter, where tqdm is installed
        bar = tqdm.tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                        leave=False) if tqdm else contextlib.nullcontext()
        received = 0
        with bar:                                                # closes the bar however the loop ends
            while chunk := response.read1(1 << 16):   # what one socket read brings: read(n) would wait for n
                tmp_file.write(chunk)
                h.update(chunk)
                received += len(chunk)
                if tqdm:
                    bar.update(len(chunk))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"timed out: not finished after {timeout:g} s ({received:,} bytes received)")
    if total is not None and received != total:
        raise OSError(f"the body was cut short: received {received} of {total} bytes")
    if md5 is not None and h.hexdigest() != md5:
        raise ValueError(f"md5 mismatch: expected {md5}, received {h.hexdigest()}")


def _describe(error):
    """One short phrase for why an attempt failed."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason
    if str(error).startswith("timed out:"):          # the file's deadline passed
        return str(error)
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return "timed out"
    return str(error) or type(error).__name__


def download_file(filename, folder, mirrors, md5=None, check=None, timeout=DEFAULT_TIMEOUT,
                  progress=True, what=None, hint=""):
    """Fetch ``filename`` into ``folder`` from the first mirror that serves a good copy.
    mirrors: base URLs, tried in order; the file name is appended to each.
    md5:     the expected md5 hex digest, or None to skip that check.
    check:   optional ``check(path)`` that raises ValueError if the downloaded file is unusable.
    timeout: seconds one mirror may take for the whole file (each read waits at most a tenth, up to STALL_TIMEOUT).
    Returns the final path. Raises DownloadError listing every URL tried and why it failed; before any download,
    an OSError if the name is taken by something other than a regular file (a folder, a FIFO, a device).
    """
    folder = Path(folder)
    what = what or filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the folder {folder} for {what}: {e}") from e
    check_output(folder / filename)      # a folder or FIFO there: one error now, not one per mirror
    failures = []
    with raise_on_termination():         # SIGTERM and SIGHUP too raise, so the .part file is removed
        for base in mirrors:
            url = base + ("" if base.endswith("/") else "/") + urllib.parse.quote(filename)
            try:
                # Signals not deferred: Ctrl-C must stop a download at once, not when the file is complete.
                write_atomically(folder / filename, lambda f: _fetch_once(url, f, md5, timeout, progress, filename),
                                 verify=check, defer_signals=False, suffix=".part")
                if failures:
                    log.info("downloaded %s from %s after %d failed mirror(s)", filename, url, len(failures))
                return folder / filename
            except Exception as e:  # noqa: BLE001 - any failure means: try the next mirror
                failures.append((url, _describe(e)))
                log.info("mirror failed for %s: %s (%s)", filename, url, failures[-1][1])
    tried = "\n".join(f"  {url}: {why}" for url, why in failures) or "  (no mirrors were given)"
    raise DownloadError(f"could not download {what}; every mirror failed:\n{tried}\nDownload it by hand and put it in "
                        f"{folder} as {filename} (or set root= / MINICNN_DATA_DIR to a folder whose "
                        f"'{folder.name}' sub-folder has it).{hint}")
