"""The downloader against a real HTTP server on 127.0.0.1 serving the real MNIST files.

Each mirror is a path prefix on one local server: /ok/ serves the true bytes, the others
fail in one particular way. Every test checks that the cache folder ends up holding only
good files under their final names: no temporary file, no corrupt file.
"""
import hashlib
import io
import os
import socket
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from minicnn.data import (MNIST_FILES, DownloadError, data_root, download_file, file_md5,
                          load_mnist, load_quickdraw)

LABELS = "t10k-labels-idx1-ubyte.gz"   # 4,542 bytes: the quick file for single-file tests
SLOW_SECONDS = 3.0                     # how long /slow/ stalls; tests use a much shorter timeout


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# A small stand-in for an official Quick, Draw! file: uint8 (60, 784), row i filled with i.
CLOUD = np.repeat(np.arange(60, dtype=np.uint8)[:, None], 784, axis=1)


class _Handler(BaseHTTPRequestHandler):
    files = {}      # file name -> true bytes
    hits = []       # every path requested, in order
    stop = threading.Event()

    def log_message(self, *args):   # keep the test output quiet
        pass

    def _send(self, body, length=None):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):   # the client gave up (timeout test)
            pass

    def do_GET(self):
        self.hits.append(self.path)
        _, kind, name = self.path.split("/", 2)
        body = self.files.get(name)
        if kind == "500":
            self.send_error(500, "Internal Server Error")
        elif body is None or kind == "404":
            self.send_error(404, "Not Found")
        elif kind == "ok":
            self._send(body)
        elif kind == "truncated":         # announces the full length, sends half, hangs up
            self._send(body[:len(body) // 2], length=len(body))
        elif kind == "corrupt":           # right length, one byte changed: only md5 can tell
            self._send(body[:100] + bytes([body[100] ^ 0xFF]) + body[101:])
        elif kind == "wrongdtype":        # a valid .npy file, but float64 instead of uint8
            self._send(_npy_bytes(np.zeros((5, 784))))
        elif kind == "trickle":           # answers, then sends one byte every 0.05 s
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(len(body)):
                    if self.stop.wait(0.05):
                        return
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif kind == "slow":              # stalls before answering at all
            if not self.stop.wait(SLOW_SECONDS):
                self._send(body)
        else:
            self.send_error(400, "unknown test route")


@pytest.fixture(scope="module")
def server(data_dir):
    """Base URL of a local HTTP server; mirrors are f"{server}/<kind>/"."""
    _Handler.files = {name: (data_dir / "mnist" / name).read_bytes() for name in MNIST_FILES}
    _Handler.files["cloud.npy"] = _npy_bytes(CLOUD)
    _Handler.stop.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hits(server):
    _Handler.hits.clear()
    return _Handler.hits


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: the connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("failure", ["404", "500", "truncated", "corrupt", "slow"])
def test_failover_to_next_mirror(server, hits, tmp_path, failure):
    mirrors = [f"{server}/{failure}/", f"{server}/ok/"]
    start = time.perf_counter()
    path = download_file(LABELS, tmp_path, mirrors, md5=MNIST_FILES[LABELS], timeout=0.5,
                         progress=False)
    seconds = time.perf_counter() - start
    assert hits == [f"/{failure}/{LABELS}", f"/ok/{LABELS}"]
    assert path == tmp_path / LABELS
    assert file_md5(path) == MNIST_FILES[LABELS]
    assert _listing(tmp_path) == [LABELS]          # no leftover temporary file
    if failure == "slow":                          # gave up after the timeout, not the stall
        assert seconds < SLOW_SECONDS - 1


def test_a_downloaded_file_gets_the_usual_permissions(server, tmp_path):
    """Not mkstemp's private 0600: others sharing MINICNN_DATA_DIR must be able to read it."""
    old_umask = os.umask(0o022)
    try:
        download_file(LABELS, tmp_path, [f"{server}/ok/"], md5=MNIST_FILES[LABELS], progress=False)
        (tmp_path / "opened.txt").write_bytes(b"")          # what a plain open() makes: 0644 here
    finally:
        os.umask(old_umask)
    mode = stat.S_IMODE((tmp_path / LABELS).stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "opened.txt").stat().st_mode) == 0o644


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_at_the_target_is_refused_and_left_in_place(server, hits, tmp_path):
    os.mkfifo(tmp_path / LABELS)
    with pytest.raises(OSError) as info:
        download_file(LABELS, tmp_path, [f"{server}/ok/"], md5=MNIST_FILES[LABELS], progress=False)
    message = str(info.value)
    assert str(tmp_path / LABELS) in message and "FIFO" in message
    assert "\n" not in message                                  # one sentence, not a list of mirrors
    assert hits == []                                           # refused before any download
    assert stat.S_ISFIFO(os.stat(tmp_path / LABELS).st_mode)
    assert _listing(tmp_path) == [LABELS]


def test_mirror_without_trailing_slash_gets_one(server, hits, tmp_path):
    download_file(LABELS, tmp_path, [f"{server}/ok"], md5=MNIST_FILES[LABELS], progress=False)
    assert hits == [f"/ok/{LABELS}"]


def test_all_mirrors_failing_gives_one_error_listing_each(server, hits, tmp_path,
                                                         closed_port_url):
    mirrors = [f"{server}/404/", f"{server}/500/", f"{server}/truncated/", f"{server}/corrupt/",
               f"{server}/slow/", closed_port_url]
    with pytest.raises(DownloadError) as info:
        load_mnist(root=tmp_path, mirrors=mirrors, timeout=0.5, progress=False)
    message = str(info.value)
    first = "train-images-idx3-ubyte.gz"
    for base in mirrors:
        assert base + first in message
    for reason in ["HTTP 404", "HTTP 500", "cut short", "md5 mismatch", "timed out", "refused"]:
        assert reason in message
    assert str(tmp_path / "mnist") in message       # where to put the files by hand
    for name in MNIST_FILES:
        assert name in message
    assert _listing(tmp_path / "mnist") == []       # nothing half-written left behind


def test_load_mnist_downloads_all_four_files(server, hits, tmp_path):
    x_train, y_train, x_test, y_test = load_mnist(
        root=tmp_path, mirrors=[f"{server}/404/", f"{server}/ok/"], progress=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.dtype == np.int64 and len(y_test) == 10000
    assert _listing(tmp_path / "mnist") == sorted(MNIST_FILES)
    downloaded = sorted(h for h in hits if h.startswith("/ok/"))
    assert downloaded == sorted(f"/ok/{n}" for n in MNIST_FILES)

    # A second call finds the verified files and downloads nothing.
    hits.clear()
    load_mnist(root=tmp_path, mirrors=[f"{server}/ok/"], progress=False)
    assert hits == []


def test_corrupt_cached_file_is_downloaded_again(server, hits, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_FILES:
        (folder / name).write_bytes(_Handler.files[name])
    good = _Handler.files[LABELS]
    (folder / LABELS).write_bytes(good[:len(good) // 2])   # a half-finished earlier download
    load_mnist(root=tmp_path, mirrors=[f"{server}/ok/"], progress=False)
    assert hits == [f"/ok/{LABELS}"]
    assert file_md5(folder / LABELS) == MNIST_FILES[LABELS]
    assert _listing(folder) == sorted(MNIST_FILES)


def test_corrupt_cached_file_without_download_is_an_error(tmp_path, data_dir):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_FILES:
        (folder / name).write_bytes((data_dir / "mnist" / name).read_bytes())
    (folder / LABELS).write_bytes(b"not the labels")
    with pytest.raises(ValueError, match=f"{LABELS} is corrupt: md5 .*expected "
                                         f"{MNIST_FILES[LABELS]}"):
        load_mnist(root=tmp_path, download=False)


def test_missing_files_without_download_name_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "mnist") in message
    assert all(name in message for name in MNIST_FILES)


def test_root_pointing_at_the_dataset_folder_is_explained(data_dir):
    with pytest.raises(FileNotFoundError, match="root= must be the folder that contains 'mnist/'"):
        load_mnist(root=data_dir / "mnist", download=False)


def test_download_works_without_tqdm(server, hits, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)    # `from tqdm.auto import` now fails
    download_file(LABELS, tmp_path, [f"{server}/ok/"], md5=MNIST_FILES[LABELS], progress=True)
    assert file_md5(tmp_path / LABELS) == MNIST_FILES[LABELS]


def test_data_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA_DIR", str(tmp_path / "from-env"))
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_root() == tmp_path / "from-env"
    monkeypatch.delenv("MINICNN_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "minicnn"


def test_quickdraw_download_checks_shape_and_dtype(server, hits, tmp_path):
    x_train, y_train, x_test, y_test, classes = load_quickdraw(
        ["cloud"], root=tmp_path, mirrors=[f"{server}/wrongdtype/", f"{server}/ok/"],
        test_fraction=0.25, progress=False)
    assert hits == ["/wrongdtype/cloud.npy", "/ok/cloud.npy"]
    assert classes == ["cloud"]
    assert x_train.shape == (45, 28, 28) and x_test.shape == (15, 28, 28)
    assert sorted(x_test[:, 0, 0]) == list(range(45, 60))      # the last quarter of the rows
    assert _listing(tmp_path / "quickdraw") == ["cloud.npy"]


def test_corrupt_cached_quickdraw_file_is_downloaded_again(server, hits, tmp_path):
    folder = tmp_path / "quickdraw"
    folder.mkdir()
    (folder / "cloud.npy").write_bytes(_npy_bytes(CLOUD)[:1000])    # cut short
    x_train, *_ = load_quickdraw(["cloud"], root=tmp_path, mirrors=[f"{server}/ok/"],
                                 progress=False)
    assert hits == ["/ok/cloud.npy"]
    assert np.load(folder / "cloud.npy").shape == (60, 784)


def test_unknown_quickdraw_category_names_it(server, hits, tmp_path):
    expected = "(?s)Quick, Draw! category 'clowd'.*HTTP 404.*no category has that name"
    with pytest.raises(DownloadError, match=expected):
        load_quickdraw(["clowd"], root=tmp_path, mirrors=[f"{server}/ok/"], progress=False)
    assert _listing(tmp_path / "quickdraw") == []


def test_served_bytes_are_the_published_files(server):
    """Guards the fixture itself: the server's /ok/ route serves what the md5 table says."""
    for name, md5 in MNIST_FILES.items():
        assert hashlib.md5(_Handler.files[name]).hexdigest() == md5


def test_a_server_trickling_bytes_cannot_outlast_the_files_deadline(server, hits, tmp_path):
    """One byte every 0.05 s never trips a read's timeout (0.2 s); the file's deadline ends it."""
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(LABELS, tmp_path, [f"{server}/trickle/"], timeout=2.0, progress=False)
    assert time.monotonic() - start < 4.0
    assert "timed out: not finished after 2 s" in str(info.value)
    assert _listing(tmp_path) == []                      # no .part file left


def test_sigterm_during_a_download_removes_the_part_file(server, tmp_path):
    """A child process downloads from the trickling mirror; SIGTERM ends it, as SIGTERM
    should, and its .part file is gone."""
    import signal
    import subprocess
    code = (f"from minicnn.data import download_file; download_file({LABELS!r}, {str(tmp_path)!r}, "
            f"[{server + '/trickle/'!r}], timeout=60, progress=False)")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not any(name.endswith(".part") for name in _listing(tmp_path)):
            assert time.monotonic() < deadline and child.poll() is None, "no .part file appeared"
            time.sleep(0.05)
        time.sleep(0.3)                                  # a few bytes into the download
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM  # it still ends by the signal
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _listing(tmp_path) == []
