"""The student's walkthrough, in a real browser: `make lab`, open, Run All Cells.

JupyterLab starts through `make lab` (tests/lab_utils.py) in the smoke profile;
Debian's Chromium, headless and driven by Playwright, opens every notebook in
notebooks/ by URL, runs it from the Run menu, waits until every code cell has an
execution count, and reads the page: no traceback in any output, the profile
line says smoke, every cell that shows a figure in the committed notebook shows
one here. A full-page screenshot of each lands in screenshots/ (git-ignored).

Without /usr/bin/chromium the module skips (`sudo apt-get install -y chromium`);
with SSM_METARL_REQUIRE_BROWSER=1 (CI) a missing browser is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lab_utils import LabServer, http_delete, process_table, start_lab, stop_lab
from notebook_utils import NOTEBOOK_DIR, ROOT, notebook_paths, read

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--mute-audio"]
SCREENSHOTS = ROOT / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
RUN_ALL_TIMEOUT_S = 240  # smoke budget is 90 s a notebook; the rest is slack for a busy CI box
PAGE_TIMEOUT_MS = 60_000
MAX_SCREENSHOT_HEIGHT = 30_000  # px; bounds the PNG of a runaway notebook (the rest is cut off)

# JupyterLab user settings for the run. Windowing "none" and no scrolling past
# the end: every cell is in the DOM, so the page can be read and photographed
# whole. No autosave: the walkthrough must never write smoke outputs into the
# committed notebooks. No news/update checks: no popups, no internet requests.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}

PATHS = notebook_paths()


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (f"{CHROMIUM} not found: the browser walkthrough needs Debian's Chromium "
               "(`sudo apt-get install -y chromium`). Set SSM_METARL_REQUIRE_BROWSER=1 to make "
               "a missing browser fail instead of skip.")
    if os.environ.get("SSM_METARL_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def lab_environment() -> dict[str, str]:
    """The caller's environment in the smoke profile, minus MPLBACKEND.

    `make test` exports MPLBACKEND=Agg; inherited by the kernel it would replace
    the inline backend and no figure would reach the page.
    """
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    return {**env, "SSM_METARL_PROFILE": "smoke", "TQDM_DISABLE": "1"}


def descendants_of(pid: int) -> set[tuple[int, str]]:
    """(pid, command) of every live process below `pid` in the process tree."""
    table = process_table()
    found: set[tuple[int, str]] = set()
    parents = {pid}
    while parents:
        children = {(child, args) for child, parent, _, args in table if parent in parents}
        parents = {child for child, _ in children - found}
        found |= children
    return found


class Walkthrough:
    """JupyterLab from `make lab` plus headless Chromium; `close()` ends both."""

    def __init__(self, workdir: Path) -> None:
        self.processes_before = descendants_of(os.getpid())
        self.lab: LabServer | None = None
        self.playwright = sync_playwright().start()
        self.closed = False
        try:
            self.browser: Browser = self.playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            write_lab_settings(workdir / "user-settings")
            self.lab = start_lab(workdir, (
                f"--LabApp.user_settings_dir={workdir / 'user-settings'}",
                f"--LabApp.workspaces_dir={workdir / 'workspaces'}"), lab_environment())
        except BaseException:
            self.close()
            raise

    def close(self) -> list[str]:
        """Stop lab and browser; returns the processes that outlived them (then killed)."""
        if self.closed:
            return []
        self.closed = True
        self.playwright.stop()  # closes the browser with it
        strays = stop_lab(self.lab) if self.lab else []
        deadline = time.monotonic() + 10
        while self.new_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        return strays + [f"{pid} {args}" for pid, args in self.new_processes()]

    def new_processes(self) -> list[tuple[int, str]]:
        """Processes started under pytest since the walkthrough began (Chromium, driver, lab)."""
        return sorted(descendants_of(os.getpid()) - self.processes_before)

    def shut_down_kernels(self) -> None:
        for session in self.lab.api("sessions"):
            http_delete(self.lab.url(f"/api/sessions/{session['id']}"))


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    require_chromium()
    session = Walkthrough(tmp_path_factory.mktemp("lab"))
    try:
        yield session
    finally:
        strays = session.close()
        assert not strays, f"processes outlived the walkthrough: {strays}"


@pytest.fixture
def page(walkthrough):
    context = walkthrough.browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
        walkthrough.shut_down_kernels()


# ---- driving JupyterLab ------------------------------------------------------


def open_notebook(page: Page, lab: LabServer, name: str, cell_count: int) -> None:
    """Open `name` by URL in a fresh workspace (`reset`: no tabs left from earlier tests).

    Returns once all `cell_count` cells are on the page and the kernel is idle.
    """
    page.goto(lab.url(f"/lab/tree/{name}", reset=""))
    # Cells are attached in batches after the page loads; wait for all of them.
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell').length === n",
        arg=cell_count)
    wait_for_idle_kernel(page)
    dismiss_notifications(page)


def wait_for_idle_kernel(page: Page, timeout_s: float = 90) -> None:
    """Wait until the notebook's kernel is idle, picking python3 if JupyterLab asks which."""
    idle = page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]')
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        if idle.count():
            return
        time.sleep(0.25)
    raise AssertionError(f"the notebook's kernel was not idle within {timeout_s:.0f} s")


def accept_kernel_dialog(page: Page) -> None:
    """Pick the venv's python3 kernel when the "Select Kernel" dialog is open."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator("select").select_option(label="Python 3 (ipykernel)")
        dialog.locator(".jp-mod-accept").click()


def wait_for_console_kernel(page: Page, lab: LabServer, timeout_s: float = 90) -> None:
    """Answer the "Select Kernel" dialog until the server has an idle console kernel."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        states = [s["kernel"]["execution_state"] for s in lab.api("sessions")
                  if s["type"] == "console" and s.get("kernel")]
        if "idle" in states:
            return
        time.sleep(0.25)
    raise AssertionError(f"no console kernel was idle within {timeout_s:.0f} s")


def dismiss_notifications(page: Page) -> None:
    for close in page.locator(".Toastify__close-button").all():
        close.click()


def click_menu(page: Page, menu: str, command: str) -> None:
    """Menu bar `menu` > the item bound to `command`, with the mouse, as a student would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def execution_prompts(page: Page) -> list[str]:
    """The prompt text of every cell in notebook order ('' for markdown cells)."""
    return page.eval_on_selector_all(
        ".jp-NotebookPanel .jp-Notebook .jp-Cell",
        "cells => cells.map(c => c.classList.contains('jp-CodeCell')"
        " ? c.querySelector('.jp-InputPrompt').innerText.trim() : '')")


def wait_for_run_all(page: Page, code_indices: list[int], timeout_s: float) -> list[str]:
    """Poll until the kernel is idle and each code cell shows `[n]:` or an error stopped the run.

    Returns the prompts of the code cells. (Run All stops at the first error, so
    the cells below it keep `[ ]:`; waiting for them would only burn the timeout.)
    """
    deadline = time.monotonic() + timeout_s
    prompts: list[str] = []
    while time.monotonic() < deadline:
        all_prompts = execution_prompts(page)
        prompts = [all_prompts[i] for i in code_indices]
        idle = page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator'
                            '[data-status="idle"]').count()
        finished = all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in prompts)
        if idle and (finished or error_outputs(page, ".jp-NotebookPanel")):
            return prompts
        time.sleep(0.5)
    raise AssertionError(f"Run All Cells did not finish in {timeout_s:.0f} s; prompts of the "
                         f"code cells: {prompts}")


# ---- reading the page --------------------------------------------------------

ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b(:.*)?$", re.M)


def error_outputs(page: Page, scope: str) -> list[str]:
    """Texts of the error outputs under `scope`.

    JupyterLab 4.6 renders errors and stderr alike (`.jp-RenderedText` with the
    stderr mime type, no class of their own); an error is the one with a
    traceback header or an `...Error: message` line (SyntaxError has no header).
    Warnings written to stderr do not count.
    """
    texts = page.eval_on_selector_all(
        f'{scope} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
        "outputs => outputs.map(o => o.innerText)")
    return [text for text in texts
            if "Traceback (most recent call last)" in text or ERROR_LINE.search(text)]


def cells_with_images(page: Page) -> set[int]:
    return set(page.eval_on_selector_all(
        ".jp-NotebookPanel .jp-Notebook .jp-Cell",
        "cells => cells.flatMap((c, i) => c.querySelector("
        "'.jp-OutputArea-output img, .jp-OutputArea-output svg') ? [i] : [])"))


def committed_image_cells(nb) -> set[int]:
    return {i for i, cell in enumerate(nb.cells) if any(
        key.startswith("image/") for out in cell.get("outputs", []) for key in out.get("data", {}))}


def save_full_page_screenshot(page: Page, name: str) -> Path:
    """Grow the window to the notebook's height so one screenshot shows every cell."""
    open_sidebar_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if open_sidebar_tab.count():  # clicking the open tab folds the file browser away
        open_sidebar_tab.click()
        open_sidebar_tab.wait_for(state="detached")
    height = page.evaluate(
        "() => { const o = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');"
        " return o ? window.innerHeight - o.clientHeight + o.scrollHeight : window.innerHeight; }")
    page.set_viewport_size({"width": VIEWPORT["width"],
                            "height": min(max(height, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)})
    page.wait_for_timeout(500)  # let the layout and images settle at the new size
    page.evaluate("() => document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                  "?.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{Path(name).stem}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the tests ---------------------------------------------------------------


@pytest.mark.timeout(RUN_ALL_TIMEOUT_S + 180)
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_run_all_cells_from_the_menu_without_errors(walkthrough, page, path):
    nb, before = read(path), digest(path)
    code_indices = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    open_notebook(page, walkthrough.lab, path.name, len(nb.cells))
    # Start from a blank page so that no committed output can pass for a fresh one.
    click_menu(page, "Edit", "editmenu:clear-all")
    page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel .jp-OutputArea-output')")
    cleared = execution_prompts(page)
    assert {cleared[i] for i in code_indices} <= {"[ ]:"}, "Clear Outputs left execution counts"

    start = time.monotonic()
    click_menu(page, "Run", "runmenu:run-all")
    try:
        prompts = wait_for_run_all(page, code_indices, RUN_ALL_TIMEOUT_S)
    finally:
        seconds = time.monotonic() - start
        shot = save_full_page_screenshot(page, path.name)
        print(f"{path.name}: Run All Cells took {seconds:.1f} s; screenshot {shot}")

    errors = error_outputs(page, ".jp-NotebookPanel")
    assert not errors, f"{path.name} shows an error (screenshot {shot}):\n{errors[0]}"
    expected = [f"[{n}]:" for n in range(1, len(code_indices) + 1)]
    assert prompts == expected, f"{path.name}: execution prompts {prompts}, expected {expected}"
    page_text = page.locator(".jp-NotebookPanel .jp-Notebook").inner_text()
    assert "profile=smoke" in page_text, f"{path.name} did not run in the smoke profile"
    missing = committed_image_cells(nb) - cells_with_images(page)
    assert not missing, f"{path.name}: cells {sorted(missing)} drew no figure in the browser"
    kernels = {s["kernel"]["name"] for s in walkthrough.lab.api("sessions")}
    assert kernels == {"python3"}, f"{path.name} ran on kernels {kernels}"
    assert digest(path) == before, f"{path.name} was modified on disk by the walkthrough"


def test_welcome_page_renders_the_course_map(walkthrough, page):
    welcome = NOTEBOOK_DIR / "00_welcome.ipynb"
    open_notebook(page, walkthrough.lab, welcome.name, len(read(welcome).cells))
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
    # Markdown renders after the cells attach; expect() waits for it.
    course_map = notebook.locator(".jp-RenderedMarkdown table", has_text="01a_ssm_dynamics")
    expect(course_map, "the course map table did not render").to_have_count(
        1, timeout=PAGE_TIMEOUT_MS)
    first_words = [row.split()[0] for row in course_map.locator("tbody tr").all_inner_texts()]
    assert first_words[:2] == ["00_welcome", "01a_ssm_dynamics"], first_words
    heading = notebook.get_by_role("heading", name=re.compile("How the four parts connect"))
    expect(heading, "the 'How the four parts connect' section is missing").to_have_count(1)
    # JupyterLab draws a mermaid block as an <img> holding the SVG as a data URL.
    diagram = notebook.locator(".jp-RenderedMermaid img")
    expect(diagram, "the mermaid diagram did not render").to_have_count(
        1, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=diagram.element_handle())
    svg = urllib.parse.unquote(diagram.get_attribute("src"))
    assert svg.startswith("data:image/svg+xml"), svg[:80]
    for node in ("01a, 01b SSM", "02 MAML", "03 meta-RL", "04 test-time adaptation"):
        assert node in svg, f"diagram node {node!r} missing"


def test_error_outputs_are_recognised(walkthrough, page):
    """The detector the walkthrough relies on sees a traceback and a SyntaxError.

    Run in a console (File > New > Console), so no notebook file is touched.
    """
    page.goto(walkthrough.lab.url("/lab", reset=""))
    page.wait_for_selector(".lm-MenuBar-itemLabel")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
    page.locator('.lm-Menu-item[data-type="submenu"]', has_text="New").hover()
    page.locator('.lm-Menu-item[data-command="console:create"]').click()
    wait_for_console_kernel(page, walkthrough.lab)
    prompt = page.locator(".jp-CodeConsole-promptCell .cm-content")
    sources = ["print('fine')", "1/0", "def broken("]
    for done, source in enumerate(sources, start=1):
        prompt.click()
        page.keyboard.type(source)
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(  # each run leaves one output behind in the console's history
            "n => document.querySelectorAll('.jp-CodeConsole-content .jp-OutputArea-output')"
            ".length >= n", arg=done)
    errors = error_outputs(page, ".jp-CodeConsole-content")
    assert len(errors) == 2, errors
    assert "ZeroDivisionError" in errors[0] and "SyntaxError" in errors[1], errors


@pytest.mark.parametrize(("required", "outcome"), [("", pytest.skip.Exception),
                                                   ("1", pytest.fail.Exception)])
def test_missing_chromium_skips_unless_required(monkeypatch, tmp_path, required, outcome):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("SSM_METARL_REQUIRE_BROWSER", required)
    with pytest.raises(outcome, match=r"sudo apt-get install -y chromium"):
        require_chromium()


def test_shutdown_leaves_no_process_behind(walkthrough):
    strays = walkthrough.close()
    assert not strays, f"processes outlived JupyterLab and Chromium: {strays}"
    with pytest.raises(ProcessLookupError):
        os.killpg(walkthrough.lab.proc.pid, 0)
