"""Check in a real browser that the notebooks' ipywidgets render and react in JupyterLab.

A manual tool for instructors, not part of the test suite (it needs Chromium). It follows the
``make lab`` route: registers this Python as the kernel "atomicvad" (``--sys-prefix``), starts
JupyterLab on 127.0.0.1 over a temporary copy of notebooks/ (so no output is saved into the
committed notebooks), opens each notebook in headless Chromium with that kernel, runs all cells,
counts the widget views, looks for stuck or failed widgets, moves every slider or drop-down of
every interactive figure and checks that the figure is redrawn. Screenshots go to
figures/lab_widgets/ (git-ignored).

    .venv/bin/python tools/check_lab_widgets.py                 # notebooks 01-04
    .venv/bin/python tools/check_lab_widgets.py 03 --keep-open  # one notebook, keep the server

Needs Chromium (Debian/Ubuntu: ``apt-get install chromium``) and the ``websocket-client``
package, which jupyter-server already installs. Exit status 0 only when every notebook passes.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOKS = ("01", "02", "03", "04")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# text shown instead of a widget; the plain repr means JupyterLab has no widget manager extension
STUCK_TEXTS = ("Error displaying widget", "Loading widget", "Failed to load model class",
               "A Jupyter widget could not be displayed", "interactive(children=")
KERNEL = ("atomicvad", "AtomicVAD (.venv)")
WIDGET_CALLS = re.compile(r"widgets\.(slider_plot|browse)\(")  # notebooks that must show sliders

INSTALL_HINT = """Chromium was not found. Install it, e.g.
    Debian/Ubuntu:  sudo apt-get install chromium      (Ubuntu: chromium-browser)
    macOS:          brew install --cask chromium
or pass --browser /path/to/chrome (any Chrome/Chromium with --remote-debugging-port)."""

# JupyterLab user settings for the check: no news pop-up, and every cell kept in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, method: str = "GET", body: dict | None = None, timeout: float = 10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, urllib.error.URLError, ConnectionError):
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=120, suppress_origin=True)
        self.next_id = 0

    def send(self, method: str, **params):
        self.next_id += 1
        waiting = self.next_id
        self.ws.send(json.dumps({"id": waiting, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("method") == "Page.javascriptDialogOpening":
                # "leave the page?" when moving to the next notebook: accept, do not wait
                self.next_id += 1
                self.ws.send(json.dumps({"id": self.next_id, "params": {"accept": True},
                                         "method": "Page.handleJavaScriptDialog"}))
            elif message.get("id") == waiting:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str):
        """Evaluate JavaScript in the page (promises awaited) and return its JSON value."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"JavaScript failed: {text}")
        return result["result"].get("value")

    def click(self, x: float, y: float):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def key(self, key: str, code: int):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code)

    def screenshot(self, path: Path, clip: dict | None = None):
        params = {"format": "png"}
        if clip:  # the element is scrolled into view; capturing beyond it would re-lay the page
            params["clip"] = {**clip, "scale": 1}
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self):
        self.ws.close()


# JavaScript run in the page. `window.__nb` is the notebook panel under test.
JS_OPEN = """(async () => {
  const app = window.jupyterapp; if (!app) return null;
  await app.started; await app.restored;
  const nb = await app.commands.execute('docmanager:open', {path: %s, factory: 'Notebook'});
  window.__nb = nb; await nb.context.ready; await nb.sessionContext.ready;
  const k = nb.sessionContext.session && nb.sessionContext.session.kernel;
  return k ? {name: k.name, status: k.status} : null;
})()"""
JS_KERNEL_IDLE = """(() => { const k = window.__nb.sessionContext.session.kernel;
  return k && k.status === 'idle' ? k.name : null; })()"""
JS_RUN_ALL = """(() => { window.__runDone = false; window.__nb.content.activate();
  window.jupyterapp.commands.execute('notebook:run-all-cells')
    .then(() => { window.__runDone = true; }, () => { window.__runDone = true; });
  return true; })()"""
JS_PROGRESS = """(() => {
  const nb = window.__nb, k = nb.sessionContext.session.kernel;
  const code = nb.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  code.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
    if (o.output_type === 'error') errors.push(`cell ${i + 1}: ${o.ename}: ${o.evalue}`.slice(0, 300));
  }));
  return {done: window.__runDone, status: k ? k.status : 'dead', errors,
          cells: code.length, executed: code.filter(c => c.model.executionCount !== null).length};
})()"""
JS_SURVEY = """(() => {
  const root = window.__nb.content.node, text = root.innerText;
  const count = s => root.querySelectorAll(s).length;
  return {views: count('.jp-OutputArea-output > .jupyter-widgets'),
          widgets: count('.jupyter-widgets'), sliders: count('.widget-slider'),
          dropdowns: count('.widget-dropdown'), interacts: count('.widget-interact'),
          images: count('.jp-OutputArea-output img'),
          audio: [...root.querySelectorAll('audio')].map(a => ({ready: a.readyState,
                  duration: a.duration, error: a.error ? a.error.code : null,
                  network: a.networkState, inWidget: !!a.closest('.jupyter-widgets')})),
          stuck: %s.filter(t => text.includes(t))};
})()"""
JS_INTERACT = """(() => {
  const box = document.querySelectorAll('.widget-interact')[%d];
  box.scrollIntoView({block: 'start'});
  const rect = el => { const r = el.getBoundingClientRect();
    return {x: r.left, y: r.top, width: r.width, height: r.height}; };
  const imgs = [...box.querySelectorAll('.widget-output img')].map(i => i.src);
  const controls = [...box.querySelectorAll('.widget-slider, .widget-dropdown')].map(c => ({
    kind: c.classList.contains('widget-dropdown') ? 'dropdown' : 'slider',
    label: (c.querySelector('.widget-label') || {}).innerText || '',
    readout: c.querySelector('.widget-readout') ? c.querySelector('.widget-readout').innerText
             : (c.querySelector('select') || {}).value,
    track: c.querySelector('.noUi-target') ? rect(c.querySelector('.noUi-target')) : null}));
  return {box: rect(box), imgs, controls};
})()"""
JS_FOCUS_HANDLE = """(() => { const box = document.querySelectorAll('.widget-interact')[%d];
  const h = box.querySelectorAll('.widget-slider')[%d].querySelector('.noUi-handle');
  h.focus(); return document.activeElement === h; })()"""
JS_PICK_OPTION = """(() => { const box = document.querySelectorAll('.widget-interact')[%d];
  const s = box.querySelectorAll('.widget-dropdown')[%d].querySelector('select');
  s.selectedIndex = (s.selectedIndex + 1) %% s.options.length;
  s.dispatchEvent(new Event('change', {bubbles: true})); return s.value; })()"""


def digest(images: list[str]) -> str:
    return hashlib.sha1("\n".join(images).encode()).hexdigest()[:12] if images else ""


class Lab:
    """JupyterLab started from this Python over a temporary copy of the notebooks."""

    def __init__(self, workdir: Path, notebooks: list[Path], timeout: float):
        self.root = workdir / "notebooks"
        self.root.mkdir(parents=True)
        for notebook in notebooks:
            shutil.copy2(notebook, self.root / notebook.name)
        settings = workdir / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.port, self.token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])),
                   ATOMICVAD_FIGURES=str(workdir / "kernel-figures"))
        env.pop("ATOMICVAD_HEADLESS", None)
        self.log = open(workdir / "jupyter.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0",
             "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
             f"--LabApp.workspaces_dir={workdir / 'lab-workspaces'}"]
            + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_until(lambda: self.api("status"), timeout, what="JupyterLab to start")

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        if self.process.poll() is not None:
            raise RuntimeError("JupyterLab exited; see jupyter.log")
        return http_json(self.url(f"api/{path}"), method, body)

    def start_session(self, name: str, kernel: str):
        """Start the notebook's kernel server-side, as choosing it in the kernel menu would."""
        return self.api("sessions", "POST", {"path": name, "name": name, "type": "notebook",
                                             "kernel": {"name": kernel}})

    def stop(self):
        stop_group(self.process)
        self.log.close()


class Browser:
    """Headless Chromium with remote debugging on a port it picks itself."""

    def __init__(self, executable: str, workdir: Path, timeout: float):
        profile = workdir / "chromium-profile"
        self.log = open(workdir / "chromium.log", "w")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-first-run", "--disable-extensions",
             "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--user-data-dir={profile}", "--window-size=1400,1800", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log,
            start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        wait_until(port_file.exists, timeout, what="Chromium to start")
        port = int(wait_until(lambda: port_file.read_text().split("\n")[0], 10))
        pages = wait_until(lambda: [t for t in http_json(f"http://127.0.0.1:{port}/json/list")
                                    if t.get("type") == "page"], 30, what="a Chromium page")
        self.tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        self.tools.send("Page.enable")
        self.version = http_json(f"http://127.0.0.1:{port}/json/version").get("Browser", "?")

    def stop(self):
        try:
            self.tools.close()
        except Exception:  # the socket may already be gone
            pass
        stop_group(self.process)
        self.log.close()


def stop_group(process: subprocess.Popen):
    """Stop a process started in its own session and its children (kernels, renderers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + 15
        while time.monotonic() < end:
            process.poll()  # reap the leader so that the group can empty
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def move_control(tools: DevTools, index: int, position: int, control: dict, nth: dict) -> str:
    """Change one control as a person would; returns how it was moved."""
    kind = control["kind"]
    position = nth[kind]
    nth[kind] += 1
    if kind == "dropdown":
        tools.js(JS_PICK_OPTION % (index, position))
        return "next option"
    track = tools.js(JS_INTERACT % index)["controls"][position]["track"]  # where it is now
    # a click on the track moves the handle there
    tools.click(track["x"] + 0.8 * track["width"], track["y"] + track["height"] / 2)
    return "mouse click on track"


def redrawn(tools: DevTools, index: int, old: str):
    """The interactive figure's state once its images differ from digest ``old``, else None."""
    state = tools.js(JS_INTERACT % index)
    return state if state["imgs"] and digest(state["imgs"]) != old else None


def check_interacts(tools: DevTools, count: int, shots: Path, stem: str,
                    timeout: float) -> list[dict]:
    """Move each control of each interactive figure; record whether the figure was redrawn."""
    results = []
    for index in range(count):
        tools.js(JS_INTERACT % index)
        time.sleep(0.5)  # let the scroll settle before the screenshot
        state = tools.js(JS_INTERACT % index)
        tools.screenshot(shots / f"{stem}_widget{index + 1}_before.png", state["box"])
        nth = {"slider": 0, "dropdown": 0}
        for position, control in enumerate(state["controls"]):
            old = digest(tools.js(JS_INTERACT % index)["imgs"])
            how = move_control(tools, index, position, control, nth)
            try:
                new = wait_until(lambda: redrawn(tools, index, old), timeout,
                                 what="the figure to be redrawn")
            except TimeoutError:
                new = None
                if control["kind"] == "slider" and tools.js(
                        JS_FOCUS_HANDLE % (index, nth["slider"] - 1)):
                    for _ in range(3):  # fall back to the keyboard
                        tools.key("ArrowRight", 39)
                    how = "keyboard ArrowRight x3"
                    try:
                        new = wait_until(lambda: redrawn(tools, index, old), timeout)
                    except TimeoutError:
                        pass
            wait_until(lambda: tools.js(JS_KERNEL_IDLE), timeout, what="the kernel")
            final = tools.js(JS_INTERACT % index)
            results.append({"widget": index + 1, "control": control["label"] or control["kind"],
                            "how": how,
                            "value": f"{control['readout']} -> {final['controls'][position]['readout']}",
                            "redrawn": new is not None, "images": len(final["imgs"])})
        tools.screenshot(shots / f"{stem}_widget{index + 1}_after.png",
                         tools.js(JS_INTERACT % index)["box"])
    return results


def check_notebook(lab: Lab, tools: DevTools, path: Path, args, shots: Path) -> dict:
    name, stem = path.name, path.stem
    report = {"notebook": name, "problems": []}
    session = lab.start_session(name, args.kernel)
    report["kernel"] = session["kernel"]["name"]
    tools.send("Page.navigate", url=lab.url("lab?reset"))
    opened = wait_until(lambda: tools.js(JS_OPEN % json.dumps(name)), args.timeout,
                        what=f"{name} to open")
    report["kernel_in_page"] = opened["name"]
    wait_until(lambda: tools.js(JS_KERNEL_IDLE), args.timeout, what="the kernel to be idle")
    started = time.monotonic()
    tools.js(JS_RUN_ALL)
    progress = wait_until(lambda: (lambda p: p if p["done"] and p["status"] == "idle" else None)(
        tools.js(JS_PROGRESS)), args.timeout, interval=2, what=f"{name} to finish running")
    report["run_seconds"] = round(time.monotonic() - started, 1)
    report.update(cells=progress["cells"], executed=progress["executed"],
                  errors=progress["errors"])
    time.sleep(3)  # let the widget views attach
    survey = tools.js(JS_SURVEY % json.dumps(STUCK_TEXTS))
    report.update(survey)
    tools.screenshot(shots / f"{stem}_page.png")
    report["controls"] = check_interacts(tools, survey["interacts"], shots, stem,
                                         args.slider_timeout)
    final = tools.js(JS_SURVEY % json.dumps(STUCK_TEXTS))
    report["stuck_after"] = final["stuck"]
    report["audio"] = final["audio"]
    broken_audio = [a for a in final["audio"] if a["error"] or not a["duration"] > 0]
    if progress["errors"]:
        report["problems"].append(f"{len(progress['errors'])} cell(s) raised")
    if progress["executed"] < progress["cells"]:
        report["problems"].append(f"only {progress['executed']}/{progress['cells']} cells ran")
    if report["kernel_in_page"] != args.kernel:
        report["problems"].append(f"page uses kernel {report['kernel_in_page']}")
    if survey["stuck"] or report["stuck_after"]:
        report["problems"].append("widget error/loading text: "
                                  + ", ".join(sorted(set(survey["stuck"] + report["stuck_after"]))))
    if survey["interacts"] == 0 and WIDGET_CALLS.search(path.read_text()):
        report["problems"].append("no interactive widget rendered")
    if broken_audio:
        report["problems"].append(f"{len(broken_audio)} audio player(s) did not load")
    dead = [c for c in report["controls"] if not c["redrawn"]]
    if dead:
        report["problems"].append(f"{len(dead)} control(s) did not redraw their figure")
    lab.api(f"sessions/{session['id']}", "DELETE")
    return report


def print_report(report: dict):
    verdict = "PASS" if not report["problems"] else "FAIL"
    print(f"\n{verdict}  {report['notebook']}  (kernel {report['kernel']}, "
          f"{report['executed']}/{report['cells']} cells in {report['run_seconds']} s)")
    print(f"      widget views {report['views']} (elements {report['widgets']}): "
          f"{report['interacts']} interactive figures, {report['sliders']} sliders, "
          f"{report['dropdowns']} drop-downs; error/loading text: "
          f"{', '.join(sorted(set(report['stuck'] + report['stuck_after']))) or 'none'}; audio "
          f"loaded {sum(a['duration'] > 0 for a in report['audio'])}/{len(report['audio'])}")
    for control in report["controls"]:
        status = "redrawn" if control["redrawn"] else "NOT redrawn"
        print(f"      widget {control['widget']} {control['control']:<16} {control['how']:<22} "
              f"{control['value']:<18} {status}")
    for error in report["errors"]:
        print(f"      error {error}")
    for problem in report["problems"]:
        print(f"      problem: {problem}")


def find_browser(given: str | None) -> str | None:
    if given:
        return given if Path(given).exists() or shutil.which(given) else None
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", default=list(DEFAULT_NOTEBOOKS),
                        help="notebook numbers or names (default: 01 02 03 04)")
    parser.add_argument("--browser", help="Chromium/Chrome executable (default: from PATH)")
    parser.add_argument("--kernel", default=KERNEL[0], help="kernel to run the notebooks with")
    parser.add_argument("--no-install-kernel", action="store_true",
                        help="do not (re)register this Python as the kernel first")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per notebook run")
    parser.add_argument("--slider-timeout", type=float, default=60,
                        help="seconds to wait for a figure to be redrawn")
    parser.add_argument("--shots", type=Path, default=ROOT / "figures" / "lab_widgets",
                        help="screenshot folder")
    parser.add_argument("--keep-open", action="store_true",
                        help="leave JupyterLab running at the end (prints its URL)")
    args = parser.parse_args(argv)

    browser = find_browser(args.browser)
    if browser is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    try:
        import websocket  # noqa: F401
    except ImportError:
        print("The websocket-client package is missing: pip install websocket-client",
              file=sys.stderr)
        return 2
    available = sorted((ROOT / "notebooks").glob("*.ipynb"))
    chosen = [nb for nb in available if any(nb.stem.startswith(n) or nb.name == n
                                            for n in args.notebooks)]
    if not chosen:
        print(f"no notebook matches {args.notebooks}", file=sys.stderr)
        return 2
    if not args.no_install_kernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                        "--name", KERNEL[0], "--display-name", KERNEL[1]], check=True,
                       stdout=subprocess.DEVNULL)

    import ipywidgets
    import jupyterlab

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="atomicvad-lab-check-"))
    lab = browser_proc = None
    reports, crashed = [], True
    try:
        lab = Lab(workdir, chosen, timeout=120)
        browser_proc = Browser(browser, workdir, timeout=60)
        print(f"JupyterLab {jupyterlab.__version__}, ipywidgets {ipywidgets.__version__}, "
              f"{browser_proc.version}, kernel {args.kernel}; screenshots in {args.shots}")
        for notebook in chosen:
            print(f"... {notebook.name}", flush=True)
            try:
                report = check_notebook(lab, browser_proc.tools, notebook, args, args.shots)
            except (TimeoutError, RuntimeError) as error:
                report = {"notebook": notebook.name, "problems": [str(error)]}
                print(f"\nFAIL  {notebook.name}: {error}")
            else:
                print_report(report)
            reports.append(report)
        if args.keep_open:
            print(f"\nJupyterLab stays open at {lab.url('lab')} (Ctrl-C to stop)")
            while True:
                time.sleep(3600)
        crashed = False
    except KeyboardInterrupt:
        crashed = False
    finally:
        if browser_proc is not None:
            browser_proc.stop()
        if lab is not None:
            lab.stop()
        if not crashed and all(not r["problems"] for r in reports):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nlogs kept in {workdir} (jupyter.log, chromium.log)")
    failed = [r["notebook"] for r in reports if r["problems"]]
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not reports else 0


if __name__ == "__main__":
    sys.exit(main())
