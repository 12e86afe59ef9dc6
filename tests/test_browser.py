"""The dashboard as a person opens it: JupyterLab serves nbs/explore.ipynb, headless Chromium (driven through its DevTools
protocol by the small client below) opens it and runs every cell; we pick a run and a kernel in the dashboard's dropdowns and
check in the page's DOM that the candidates table and the charts render. A screenshot is saved for a person to look at.
Skipped, with the reason, where Chromium or JupyterLab is missing (`make install` installs chromium where it can)."""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
LAB = Path(sys.executable).with_name("jupyter-lab")

needs_browser = [pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (make install adds it with apt-get)"),
                 pytest.mark.skipif(not LAB.exists(), reason="jupyter-lab is not installed in this environment")]


def test_explore_notebook_is_clean():
    "nbs/explore.ipynb opens in JupyterLab on the python3 kernel without asking, and ships no outputs from someone's run."
    nb = json.loads((ROOT / "nbs" / "explore.ipynb").read_text())
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", nb["metadata"]
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"cells {dirty} of nbs/explore.ipynb hold outputs: clear them (nbdev-clean) before committing"
    assert all(set(c["metadata"]) <= {"tags"} for c in nb["cells"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float) -> bytes:
    t0, err = time.time(), None
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=5) as r: return r.read()
        except OSError as e:
            err = e; time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f}s ({err})")


class Page:
    "A Chromium tab over the DevTools protocol: `call(method, **params)`, `js(expression)`, `wait_for(expression)`."
    def __init__(self, ws_url: str):
        import websocket
        self.ws, self.n = websocket.create_connection(ws_url, timeout=60, suppress_origin=True), 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expr: str):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r: raise RuntimeError(f"{expr[:80]}: {r['exceptionDetails'].get('text')} {r['result'].get('description', '')}")
        return r["result"].get("value")

    def wait_for(self, expr: str, timeout: float, what: str):
        t0 = time.time()
        while time.time() - t0 < timeout:
            v = self.js(expr)
            if v: return v
            time.sleep(0.5)
        raise TimeoutError(f"{what}: not seen in {timeout:.0f}s")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path


@pytest.fixture
def lab(tmp_path):
    "JupyterLab on 127.0.0.1 (a free port, a token) serving a copy of explore.ipynb (a run must not save into the source)."
    work = tmp_path / "lab"; work.mkdir()
    shutil.copy(ROOT / "nbs" / "explore.ipynb", work / "explore.ipynb")
    port, token = free_port(), os.urandom(8).hex()
    env = {**os.environ, "AUTOKERNEL_HOME": str(ROOT), "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "jset"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "jws"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "jdata")}
    for ext, cfg in (("notebook-extension/tracker", {"windowingMode": "none"}),      # every cell in the DOM, scrolled or not
                     ("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False})):
        f = tmp_path / "jset" / "@jupyterlab" / f"{ext}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(cfg))
    log = open(tmp_path / "lab.log", "w")
    p = subprocess.Popen([str(LAB), "--allow-root", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                          f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
                          "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                         cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 90)
        yield f"http://127.0.0.1:{port}", token
    finally:
        p.terminate()
        try: p.wait(20)
        except subprocess.TimeoutExpired: p.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    "Headless Chromium with its DevTools port open; yields a `Page` on a blank tab."
    port = free_port()
    p = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                          f"--remote-debugging-port={port}", "--remote-allow-origins=*", f"--user-data-dir={tmp_path / 'chrome'}",
                          "--window-size=1400,1800", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/json/version", 60)
        tabs = json.loads(wait_http(f"http://127.0.0.1:{port}/json/list", 10))
        page = Page(next(t for t in tabs if t["type"] == "page")["webSocketDebuggerUrl"])
        page.call("Page.enable"); page.call("Runtime.enable")
        yield page
    finally:
        p.terminate()
        try: p.wait(20)
        except subprocess.TimeoutExpired: p.kill()


NB = "Array.from(jupyterapp.shell.widgets('main')).find(w => w.sessionContext && w.content && w.content.widgets)"   # the notebook panel
KERNEL = f"(() => {{ const nb = window.jupyterapp && {NB}; const k = nb && nb.sessionContext.session && nb.sessionContext.session.kernel;" \
         " return k ? [k.name, k.status] : null; })()"
DASH = "document.querySelector('.jp-Notebook .widget-vbox')"         # the first dashboard: the usage cell's, over runs/
SELECT = """(() => {{ const s = [...{dash}.querySelectorAll('.widget-dropdown')].find(d => d.querySelector('label').textContent == '{label}')
  .querySelector('select'); const o = [...s.options].find(o => o.value.includes('{value}') || o.textContent.includes('{value}'));
  if (!o) return null; s.value = o.value; s.dispatchEvent(new Event('change', {{bubbles: true}})); return o.textContent; }})()"""


@needs_browser[0]
@needs_browser[1]
def test_dashboard_in_jupyterlab(lab, browser, tmp_path):
    url, token = lab
    t0 = time.time()
    browser.call("Page.navigate", url=f"{url}/lab/tree/explore.ipynb?token={token}")
    try:
        browser.wait_for(f"(() => {{ const k = {KERNEL}; return k && k[1] == 'idle'; }})()", 150, "the notebook open, its kernel idle")
        assert browser.js(KERNEL)[0] == "python3"                   # the notebook's kernelspec: no 'select a kernel' dialog
        browser.js(f"(() => {{ const nb = {NB}; jupyterapp.shell.activateById(nb.id); return jupyterapp.commands.execute('notebook:run-all-cells'); }})()")
        browser.wait_for(f"(() => {{ const nb = {NB}; const cs = nb.content.widgets.filter(c => c.model.type == 'code');"
                         " return cs.every(c => c.model.executionCount) && nb.sessionContext.session.kernel.status == 'idle'; })()",
                         150, "every cell run")
        errors = browser.js("[...document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
                            ".map(e => e.textContent).filter(t => t.includes('Error'))")
        assert not errors, errors
        browser.wait_for(f"!!{DASH} && {DASH}.querySelectorAll('select').length >= 2", 30, "the dashboard's widgets")
        before = browser.js(f"[...{DASH}.querySelectorAll('img')].map(i => i.src)")      # the charts of the run shown first
        browser.js(f"{DASH}.scrollIntoView()")
        assert browser.js(SELECT.format(dash=DASH, label="run", value="examples/gpt2-h100")), "no gpt2-h100 in the run list"
        browser.wait_for(f"{DASH}.innerText.includes('gpt2-h100/report.html')", 90, "the run's kernels and status shown")   # its handler done
        assert browser.js(SELECT.format(dash=DASH, label="kernel", value="02_"))
        browser.wait_for(f"{DASH}.querySelector('table caption') && {DASH}.querySelector('table caption').textContent.startsWith('02_')",
                         90, "the candidates table of the kernel picked")
        rows = browser.js(f"{DASH}.querySelector('table').querySelectorAll('tr').length")
        assert rows >= 2                                            # a header and at least the baseline
        status = browser.js(f"{DASH}.innerText")
        assert "incumbent:" in status and "x eager" in status
        imgs = browser.wait_for(f"(() => {{ const before = {json.dumps(before)}; const i = [...{DASH}.querySelectorAll('img')]"
                                ".filter(i => i.complete && i.naturalWidth > 100 && !before.includes(i.src));"
                                " return i.length >= 2 ? i.map(i => [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]) : null; })()",
                                90, "the progress and roofline charts of the run picked")
        for w, h, shown in imgs:
            assert shown > 300 and w / h < 4, (w, h, shown)          # legible: wide enough, not squashed flat
        browser.js(f"{DASH}.scrollIntoView()"); time.sleep(1)          # let the charts paint before the screenshot
    finally:
        shot = browser.screenshot(tmp_path / "dashboard.png")
        print(f"screenshot: {shot}  ({time.time() - t0:.0f}s in the browser)")
    assert shot.stat().st_size > 10_000
