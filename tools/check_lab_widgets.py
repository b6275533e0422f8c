"""Check in a real browser that the notebooks' ipywidgets render and react in JupyterLab.

A manual tool for instructors, not part of the test suite (it needs a browser). It follows the
``make lab`` route: registers this Python as the kernel "atomicvad" (``--sys-prefix``), starts
JupyterLab on 127.0.0.1 over a temporary copy of notebooks/ (so no output is saved into the
committed notebooks), opens each notebook in headless Chromium driven by Playwright, runs all
cells, counts the widget views, looks for stuck or failed widgets, moves every slider (a mouse
click on its track, the keyboard as fallback) and drop-down of every interactive figure, checks
that the figure is redrawn and that the audio players load. Screenshots of each interactive
figure, before and after, go to figures/lab_widgets/ (git-ignored).

    make lab-check                                   # installs Playwright, checks 01-04
    .venv/bin/python tools/check_lab_widgets.py 03 --keep-open  # one notebook, keep the server

Needs Playwright for Python (``pip install -e ".[lab-check]"``, which ``make lab-check`` runs)
and a Chromium: Debian's (``apt-get install chromium``; Ubuntu: ``chromium-browser``) is used
through ``executable_path``, since Playwright's own browser download is not needed. Exit status 0
only when every notebook passes.
"""
from __future__ import annotations

import argparse
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

import ipywidgets
import jupyterlab

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOKS = ("01", "02", "03", "04")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# text shown instead of a widget; the plain repr means JupyterLab has no widget manager extension
STUCK_TEXTS = ("Error displaying widget", "Loading widget", "Failed to load model class",
               "A Jupyter widget could not be displayed", "interactive(children=")
KERNEL = ("atomicvad", "AtomicVAD (.venv)")
WIDGET_CALLS = re.compile(r"widgets\.(slider_plot|browse)\(")  # notebooks that must show sliders
INSTALL_HINT = """No Chromium found. Install Debian's (or pass --browser /path/to/chrome):
    Debian:         sudo apt-get install chromium
    Ubuntu:         sudo apt-get install chromium-browser
    macOS:          brew install --cask chromium"""
# JupyterLab user settings for the check: no news pop-up, and every cell kept in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# JavaScript evaluated in the page (Playwright awaits promises). `window.__nb`: the notebook.
JS_OPEN = """async (path) => {
  const app = window.jupyterapp; if (!app) return null;
  await app.started; await app.restored;
  const nb = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  window.__nb = nb; await nb.context.ready; await nb.sessionContext.ready;
  const k = nb.sessionContext.session && nb.sessionContext.session.kernel;
  return k ? {name: k.name, status: k.status} : null;
}"""
JS_KERNEL_IDLE = """() => { const k = window.__nb.sessionContext.session.kernel;
  return k && k.status === 'idle' ? k.name : null; }"""
JS_RUN_ALL = """() => { window.__runDone = false; window.__nb.content.activate();
  window.jupyterapp.commands.execute('notebook:run-all-cells')
    .then(() => { window.__runDone = true; }, () => { window.__runDone = true; }); }"""
JS_PROGRESS = """() => {
  const nb = window.__nb, k = nb.sessionContext.session.kernel;
  const code = nb.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  code.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
    if (o.output_type === 'error') errors.push(`cell ${i + 1}: ${o.ename}: ${o.evalue}`.slice(0, 300));
  }));
  return {done: window.__runDone, status: k ? k.status : 'dead', errors,
          cells: code.length, executed: code.filter(c => c.model.executionCount !== null).length};
}"""
JS_SURVEY = """(stuckTexts) => {
  const root = window.__nb.content.node, text = root.innerText;
  const count = s => root.querySelectorAll(s).length;
  return {views: count('.jp-OutputArea-output > .jupyter-widgets'),
          widgets: count('.jupyter-widgets'), sliders: count('.widget-slider'),
          dropdowns: count('.widget-dropdown'), interacts: count('.widget-interact'),
          audio: [...root.querySelectorAll('audio')].map(a => ({duration: a.duration,
                  error: a.error ? a.error.code : null})),
          stuck: stuckTexts.filter(t => text.includes(t))};
}"""
JS_INTERACT = """(index) => {
  const box = document.querySelectorAll('.widget-interact')[index];
  box.scrollIntoView({block: 'start'});
  const rect = el => { const r = el.getBoundingClientRect();
    return {x: r.left, y: r.top, width: r.width, height: r.height}; };
  const control = c => ({
    kind: c.classList.contains('widget-dropdown') ? 'dropdown' : 'slider',
    label: (c.querySelector('.widget-label') || {}).innerText || '',
    readout: c.querySelector('.widget-readout') ? c.querySelector('.widget-readout').innerText
             : (c.querySelector('select') || {}).value,
    track: c.querySelector('.noUi-target') ? rect(c.querySelector('.noUi-target')) : null});
  return {box: rect(box), imgs: [...box.querySelectorAll('.widget-output img')].map(i => i.src),
          controls: [...box.querySelectorAll('.widget-slider, .widget-dropdown')].map(control)};
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; TimeoutError after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Lab:
    """JupyterLab started from this Python over a temporary copy of the notebooks."""

    def __init__(self, workdir: Path, notebooks: list[Path], timeout: float):
        self.root = workdir / "notebooks"
        self.root.mkdir(parents=True)
        for notebook in notebooks:
            shutil.copy2(notebook, self.root / notebook.name)
        settings = workdir / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        self.port, self.token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   ATOMICVAD_FIGURES=str(workdir / "kernel-figures"))
        env.pop("ATOMICVAD_HEADLESS", None)  # live widgets, as in `make lab`
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
        return f"http://127.0.0.1:{self.port}/{path}{'&' if '?' in path else '?'}token={self.token}"

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        if self.process.poll() is not None:
            raise RuntimeError("JupyterLab exited; see jupyter.log")
        request = urllib.request.Request(self.url(f"api/{path}"), method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def start_session(self, name: str, kernel: str):
        """Start the notebook's kernel server-side, as choosing it in the kernel menu would."""
        return self.api("sessions", "POST", {"path": name, "name": name, "type": "notebook",
                                             "kernel": {"name": kernel}})

    def stop(self):
        """Stop JupyterLab and its kernels (their own process group)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


def digest(images: list[str]) -> str:
    return hashlib.sha1("\n".join(images).encode()).hexdigest()[:12] if images else ""


def check_interacts(page, count: int, shots: Path, stem: str, timeout: float) -> list[dict]:
    """Move each control of each interactive figure; record whether the figure was redrawn."""
    results = []
    for index in range(count):
        page.evaluate(JS_INTERACT, index)
        page.wait_for_timeout(500)  # let the scroll settle before the screenshot
        state = page.evaluate(JS_INTERACT, index)
        page.screenshot(path=shots / f"{stem}_widget{index + 1}_before.png", clip=state["box"])
        sliders = dropdowns = 0
        for position, control in enumerate(state["controls"]):
            box = page.locator(".widget-interact").nth(index)
            old = digest(page.evaluate(JS_INTERACT, index)["imgs"])

            def redrawn():
                now = page.evaluate(JS_INTERACT, index)
                return now if now["imgs"] and digest(now["imgs"]) != old else None

            if control["kind"] == "dropdown":
                select = box.locator(".widget-dropdown select").nth(dropdowns)
                options = select.locator("option").all_inner_texts()
                current = options.index(control["readout"]) if control["readout"] in options else 0
                select.select_option(index=(current + 1) % len(options))
                dropdowns, how = dropdowns + 1, "next option"
            else:  # a click on the track moves the handle there
                track = page.evaluate(JS_INTERACT, index)["controls"][position]["track"]
                page.mouse.click(track["x"] + 0.8 * track["width"],
                                 track["y"] + track["height"] / 2)
                how = "mouse click on track"
            try:
                new = wait_until(redrawn, timeout, what="the figure to be redrawn")
            except TimeoutError:
                new = None
                if control["kind"] == "slider":  # fall back to the keyboard
                    box.locator(".widget-slider .noUi-handle").nth(sliders).focus()
                    for _ in range(3):
                        page.keyboard.press("ArrowRight")
                    how = "keyboard ArrowRight x3"
                    try:
                        new = wait_until(redrawn, timeout)
                    except TimeoutError:
                        pass
            if control["kind"] == "slider":
                sliders += 1
            wait_until(lambda: page.evaluate(JS_KERNEL_IDLE), timeout, what="the kernel")
            final = page.evaluate(JS_INTERACT, index)
            results.append({"widget": index + 1, "control": control["label"] or control["kind"],
                            "how": how, "redrawn": new is not None,
                            "value": f"{control['readout']} -> "
                                     f"{final['controls'][position]['readout']}"})
        page.screenshot(path=shots / f"{stem}_widget{index + 1}_after.png",
                        clip=page.evaluate(JS_INTERACT, index)["box"])
    return results


def check_notebook(lab: Lab, page, path: Path, args) -> dict:
    name, stem = path.name, path.stem
    report = {"notebook": name, "problems": []}
    session = lab.start_session(name, args.kernel)
    report["kernel"] = session["kernel"]["name"]
    page.goto(lab.url("lab?reset"))
    opened = wait_until(lambda: page.evaluate(JS_OPEN, name), args.timeout, what=f"{name} to open")
    wait_until(lambda: page.evaluate(JS_KERNEL_IDLE), args.timeout, what="the kernel to be idle")
    started = time.monotonic()
    page.evaluate(JS_RUN_ALL)
    progress = wait_until(lambda: (lambda p: p if p["done"] and p["status"] == "idle" else None)(
        page.evaluate(JS_PROGRESS)), args.timeout, interval=2, what=f"{name} to finish running")
    report.update(run_seconds=round(time.monotonic() - started, 1), cells=progress["cells"],
                  executed=progress["executed"], errors=progress["errors"])
    page.wait_for_timeout(3000)  # let the widget views attach
    survey = page.evaluate(JS_SURVEY, list(STUCK_TEXTS))
    report.update(survey)
    page.screenshot(path=args.shots / f"{stem}_page.png")
    report["controls"] = check_interacts(page, survey["interacts"], args.shots, stem,
                                         args.slider_timeout)
    final = page.evaluate(JS_SURVEY, list(STUCK_TEXTS))
    report["stuck_after"], report["audio"] = final["stuck"], final["audio"]
    problems = report["problems"]
    if progress["errors"]:
        problems.append(f"{len(progress['errors'])} cell(s) raised")
    if progress["executed"] < progress["cells"]:
        problems.append(f"only {progress['executed']}/{progress['cells']} cells ran")
    if opened["name"] != args.kernel:
        problems.append(f"page uses kernel {opened['name']}")
    stuck = sorted(set(survey["stuck"] + final["stuck"]))
    if stuck:
        problems.append("widget error/loading text: " + ", ".join(stuck))
    if survey["interacts"] == 0 and WIDGET_CALLS.search(path.read_text()):
        problems.append("no interactive widget rendered")
    broken_audio = [a for a in final["audio"] if a["error"] or not (a["duration"] or 0) > 0]
    if broken_audio:
        problems.append(f"{len(broken_audio)} audio player(s) did not load")
    dead = [c for c in report["controls"] if not c["redrawn"]]
    if dead:
        problems.append(f"{len(dead)} control(s) did not redraw their figure")
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
          f"loaded {sum((a['duration'] or 0) > 0 for a in report['audio'])}/{len(report['audio'])}")
    for control in report["controls"]:
        print(f"      widget {control['widget']} {control['control']:<16} {control['how']:<22} "
              f"{control['value']:<18} {'redrawn' if control['redrawn'] else 'NOT redrawn'}")
    for line in report["errors"] + [f"problem: {p}" for p in report["problems"]]:
        print(f"      {line}")


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
    try:  # an optional extra: say how to get it instead of a traceback
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print('Playwright is missing: .venv/bin/pip install -e ".[lab-check]" (or make lab-check)',
              file=sys.stderr)
        return 2
    browser_path = find_browser(args.browser)
    if browser_path is None:
        print(INSTALL_HINT, file=sys.stderr)
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
    args.shots.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="atomicvad-lab-check-"))
    lab, reports, crashed = None, [], True
    try:
        lab = Lab(workdir, chosen, timeout=120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=browser_path, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" between notebooks
            print(f"JupyterLab {jupyterlab.__version__}, ipywidgets {ipywidgets.__version__}, "
                  f"Chromium {browser.version}, kernel {args.kernel}; screenshots in {args.shots}")
            for notebook in chosen:
                print(f"... {notebook.name}", flush=True)
                try:
                    report = check_notebook(lab, page, notebook, args)
                except (TimeoutError, RuntimeError, PlaywrightError) as error:
                    report = {"notebook": notebook.name, "problems": [str(error).splitlines()[0]]}
                    print(f"\nFAIL  {notebook.name}: {report['problems'][0]}")
                else:
                    print_report(report)
                reports.append(report)
            if args.keep_open:
                print(f"\nJupyterLab stays open at {lab.url('lab')} (Ctrl-C to stop)")
                while True:
                    time.sleep(3600)
            browser.close()
        crashed = False
    except KeyboardInterrupt:
        crashed = False
    finally:
        if lab is not None:
            lab.stop()
        if not crashed and all(not r["problems"] for r in reports):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nlogs kept in {workdir} (jupyter.log)")
    failed = [r["notebook"] for r in reports if r["problems"]]
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not reports else 0


if __name__ == "__main__":
    sys.exit(main())
