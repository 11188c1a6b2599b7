"""One real browser: JupyterLab serves the DrawingPad; chromium draws a "1" by mouse and touch, then a "7";
then lesson 09, the drawing-pad lesson, runs in Notebook 7 and in JupyterLab and reads a drawn "7".

Debian's chromium is driven by Playwright's Python package (browser downloads are
impossible here, so ``executable_path`` points at the system chromium). `make test`
installs chromium with scripts/install-browser.sh; without it this test skips.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _find_chromium():
    for path in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and os.access(path, os.X_OK):
            return path
    return None


CHROMIUM = _find_chromium()
# Decided at collection, so a machine without chromium skips before training any model.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300),
              pytest.mark.skipif(CHROMIUM is None, reason=(
                  "chromium not found (/usr/bin/chromium or on PATH): install it with "
                  "`apt-get install chromium` or scripts/install-browser.sh"))]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = Path(__file__).parent / "browser" / "drawing_pad.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Generous: the machine may be busy, and JupyterLab, the kernel and chromium all start cold.
START_S = 120
STEP_MS = 90_000


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path, n=30):
    lines = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def _serve(app, work, tmp_path, extra_env=None):
    """Start JupyterLab (app "lab") or Notebook 7 (app "notebook") on 127.0.0.1 serving ``work``;
    return (server process, URL, token, log path) once it answers."""
    # Isolated Jupyter folders, so the developer's own settings never leak in; the only
    # setting turns off JupyterLab's "get news?" toast, which would cover the page.
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               IPYTHONDIR=str(tmp_path / "ipython"),
               JUPYTER_PLATFORM_DIRS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               **(extra_env or {}))
    port, token = _free_port(), secrets.token_hex(16)
    log_path = tmp_path / f"{app}.log"
    module = {"lab": "jupyterlab", "notebook": "notebook"}[app]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", module, "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}"]
            + (["--LabApp.extension_manager=readonly"] if app == "lab" else []),
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_S
    while True:
        if server.poll() is not None:
            pytest.fail(f"{module} exited with code {server.returncode}:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    return server, url, token, log_path
        except OSError:
            pass
        if time.monotonic() > deadline:
            _stop(server)
            pytest.fail(f"{module} did not answer within {START_S} s:\n{_log_tail(log_path)}")
        time.sleep(0.5)


def _stop(server):
    # SIGTERM lets the server shut its kernel down; the whole session goes if it hangs.
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


@pytest.fixture
def lab(tmp_path, trained_lenet):
    """JupyterLab serving drawing_pad.ipynb beside a trained model; yields its URL and token."""
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / "drawing_pad.ipynb")
    trained_lenet.save(work / "model.npz", metadata={"trained": True})
    server, url, token, log_path = _serve("lab", work, tmp_path)
    try:
        yield {"url": url, "token": token, "log": log_path}
    finally:
        _stop(server)


def _kernels_idle(url, token):
    """True once the server has a kernel and every kernel is idle."""
    with urllib.request.urlopen(f"{url}/api/kernels?token={token}", timeout=5) as r:
        kernels = json.load(r)
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def _pixel(canvas, x, y):
    """[r, g, b, a] of the pad's canvas as the page shows it."""
    return canvas.evaluate(f"c => Array.from(c.getContext('2d').getImageData({x}, {y}, 1, 1).data)")


def _screenshot(page, canvas, folder):
    """The pad with its prediction, as the page shows it: saved beside the test's files, and
    to $MINICNN_DOCS_SCREENSHOT when set (the README's picture, docs/drawing-pad.png)."""
    pad = canvas.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")
    shot = pad.screenshot(path=str(folder / "drawing-pad.png"))
    if os.environ.get("MINICNN_DOCS_SCREENSHOT"):
        Path(os.environ["MINICNN_DOCS_SCREENSHOT"]).write_bytes(shot)


def _settled_box(canvas, timeout_s=STEP_MS / 1000):
    """The canvas's bounding box once it stops moving: outputs still rendering around it (a
    notebook that has just run) shift it, and strokes aimed at the old place miss the pad."""
    deadline = time.monotonic() + timeout_s
    box = canvas.bounding_box()
    while True:
        time.sleep(0.3)
        again = canvas.bounding_box()
        if again == box:
            return box
        assert time.monotonic() < deadline, f"the canvas kept moving: {box} -> {again}"
        box = again


def _draw_seven(page, canvas):
    """A "7" in two mouse strokes on the canvas: the bar, then the slanted leg. The canvas is
    scrolled into view first: mouse events outside the viewport reach nothing (a click on the
    pad's Clear button can scroll the notebook so that the top of the canvas is hidden)."""
    canvas.scroll_into_view_if_needed()
    box = _settled_box(canvas)
    view = page.viewport_size
    assert box["y"] >= 0 and box["y"] + box["height"] <= view["height"], \
        f"the canvas {box} is not wholly inside the {view['width']}x{view['height']} viewport"
    for (x0, y0), (x1, y1) in [((75, 60), (205, 55)), ((205, 55), (120, 235))]:
        page.mouse.move(box["x"] + x0, box["y"] + y0)
        page.mouse.down()
        for i in range(1, 13):
            page.mouse.move(box["x"] + x0 + (x1 - x0) * i / 12, box["y"] + y0 + (y1 - y0) * i / 12)
        page.mouse.up()


def test_drawing_a_one_in_jupyterlab_predicts_one(lab, tmp_path):
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail('the browser test needs Playwright: pip install -e ".[dev]"')

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, has_touch=True)
            page.set_default_timeout(STEP_MS)
            page.goto(f"{lab['url']}/lab/tree/drawing_pad.ipynb?token={lab['token']}",
                      wait_until="domcontentloaded")
            # the kernel must be up before "Run All Cells", or JupyterLab drops the request
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()

            canvas = page.locator("canvas.minicnn-canvas")
            expect(canvas).to_be_visible(timeout=STEP_MS)
            box = canvas.bounding_box()
            assert (box["width"], box["height"]) == (280, 280)
            # the kernel paints the pad black once the canvas is shown
            _wait_for_pixel(canvas, 10, 10, [0, 0, 0, 255])

            # a "1": one stroke down the middle, slightly slanted, like a hand would draw it
            x, top = box["x"] + 140, box["y"] + 40
            page.mouse.move(x, top)
            page.mouse.down()
            for i in range(1, 11):
                page.mouse.move(x + i * 0.5, top + 20 * i, steps=2)
            page.mouse.up()

            message = page.locator(".minicnn-prediction")
            expect(message).to_have_text(re.compile(r"Prediction: 1 \(\d+\.\d%\)"), timeout=STEP_MS)
            print(f"the page shows: {message.inner_text()!r}")
            assert _pixel(canvas, 142, 140) == [255, 255, 255, 255]       # the stroke, in white

            page.get_by_role("button", name="Clear").click()
            expect(message).to_have_text("", timeout=STEP_MS)
            _wait_for_pixel(canvas, 142, 140, [0, 0, 0, 255])
            page.get_by_role("button", name="Predict").click()
            expect(message).to_have_text("draw a digit first", timeout=STEP_MS)

            # the same "1" with a finger: raw touch events through the DevTools protocol
            devtools = page.context.new_cdp_session(page)
            for i in range(11):
                devtools.send("Input.dispatchTouchEvent", {
                    "type": "touchStart" if i == 0 else "touchMove",
                    "touchPoints": [{"x": x + i * 0.5, "y": top + 20 * i}]})
            devtools.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            expect(message).to_have_text(re.compile(r"Prediction: 1 \(\d+\.\d%\)"), timeout=STEP_MS)
            print(f"after drawing with touch: {message.inner_text()!r}")

            # a "7" in two strokes, for the picture: the bar, then the slanted leg
            page.get_by_role("button", name="Clear").click()
            expect(message).to_have_text("", timeout=STEP_MS)
            _draw_seven(page, canvas)
            expect(message).to_have_text(re.compile(r"Prediction: 7 \(\d+\.\d%\)"), timeout=STEP_MS)
            print(f"after drawing a 7: {message.inner_text()!r}")
            _screenshot(page, canvas, tmp_path)
        except Exception:
            print(f"JupyterLab log:\n{_log_tail(lab['log'])}")
            raise
        finally:
            browser.close()


def _wait_for_pixel(canvas, x, y, value, timeout_s=STEP_MS / 1000):
    deadline = time.monotonic() + timeout_s
    while (seen := _pixel(canvas, x, y)) != value:
        assert time.monotonic() < deadline, f"canvas pixel ({x}, {y}) is {seen}, expected {value}"
        time.sleep(0.2)


LESSON = ROOT / "lessons" / "09_draw_your_own_digit.ipynb"


@pytest.mark.parametrize("app", ["notebook", "lab"], ids=["notebook7", "jupyterlab"])
def test_the_drawing_pad_lesson_runs_in_notebook_7_and_jupyterlab(app, tmp_path, trained_lenet, data_dir):
    """Lesson 09, run as a learner runs it (Run All, fast mode), then a 7 drawn on its pad by mouse."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail('the browser test needs Playwright: pip install -e ".[dev]"')
    work, saved = tmp_path / "work", tmp_path / "lessons-work"
    work.mkdir()
    saved.mkdir()
    shutil.copy(LESSON, work / LESSON.name)
    trained_lenet.save(saved / "mnist-lenet-fast.npz")             # what lesson 06 would have saved
    server, url, token, log_path = _serve(app, work, tmp_path, {
        "MINICNN_FAST": "1", "MINICNN_LESSONS_DIR": str(saved), "MINICNN_DATA_DIR": str(data_dir)})
    path = {"lab": "lab/tree", "notebook": "notebooks"}[app]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(STEP_MS)
                page.goto(f"{url}/{path}/{LESSON.name}?token={token}", wait_until="domcontentloaded")
                deadline = time.monotonic() + STEP_MS / 1000     # "Run All" is dropped before the kernel is up
                while not _kernels_idle(url, token):
                    assert time.monotonic() < deadline, f"no idle kernel:\n{_log_tail(log_path)}"
                    time.sleep(0.5)
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_text("Run All Cells", exact=True).click()

                canvas = page.locator("canvas.minicnn-canvas").first
                expect(canvas).to_be_visible(timeout=STEP_MS)
                message = page.locator(".minicnn-prediction").first
                # the lesson's own code draws a 2 on the pad near its end: wait for all of it
                expect(message).to_have_text(re.compile(r"Prediction: \d"), timeout=4 * STEP_MS)
                deadline = time.monotonic() + 4 * STEP_MS / 1000
                while not _kernels_idle(url, token):
                    assert time.monotonic() < deadline, "the lesson did not finish running"
                    time.sleep(1)
                canvas.scroll_into_view_if_needed()
                pad = canvas.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][last()]")
                pad.get_by_role("button", name="Clear").click()
                expect(message).to_have_text("", timeout=STEP_MS)
                _draw_seven(page, canvas)
                expect(message).to_have_text(re.compile(r"Prediction: 7 \(\d+\.\d%\)"), timeout=STEP_MS)
                print(f"{app}: lesson 09's pad says {message.inner_text()!r}")
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
                assert not tracebacks, tracebacks[0]
            finally:
                browser.close()
    except Exception:
        print(f"{app} log:\n{_log_tail(log_path)}")
        raise
    finally:
        _stop(server)
