"""The workbook where people use it: JupyterLab in a real Chromium, driven by Playwright.

Opt in with ``pytest -m browser`` (the test command does, after the notebooks have run).
Needs Debian's ``chromium`` on PATH (``apt-get install chromium``); nothing here
downloads a browser. Screenshots go to ``$FTW_SCREENSHOTS`` (default ``screenshots/``).

The tests are one learner's session, in order: their own CSV uploaded to 01 and walked
through 02's Drop button, 03-06 (a job launched with the panel's button meanwhile, the zip
downloaded) and lesson 07, in one JupyterLab with Binder's settings, each notebook's kernel
left open as learners leave them, and the whole session's memory (JupyterLab, seven kernels,
the engine, its models' process and its trainer; not the browser) measured against Binder's
2 GB, notebook by notebook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from ftwidgets.engine.server import engine_pid, stop_process
from ftwidgets.runtime.memory import PeakMemory

pytestmark = pytest.mark.browser
SESSION_LIMIT_GB = 1.6  # Binder gives 2 GB; measured 1.49 (1.80 before charts left plotly, 2.38 before that)
BINDER_BATCH_TOKENS = "tight"  # binder/start's FTW_MAX_BATCH_TOKENS: training and chat batches sized for 2 GB

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("FTW_SCREENSHOTS", ROOT / "screenshots"))
PROMPTS = "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'"  # the open notebook's cell prompts
STARTED = f"""() => /\\[(\\d+|\\*)\\]/.test(document.querySelector({PROMPTS})?.textContent || '')"""
ALL_CELLS_RAN = f"""() => {{
  const prompts = [...document.querySelectorAll({PROMPTS})].map(e => e.textContent);
  return prompts.length > 0 && prompts.every(t => /\\[\\d+\\]/.test(t));
}}"""

# plotly.js charts drawn in the open notebook (`widgets.charts`: figures written as data, no plotly in the kernel)
CHARTS = "'.jp-NotebookPanel:not(.lm-mod-hidden) .js-plotly-plot .main-svg'"
PLOTS = "'.jp-NotebookPanel:not(.lm-mod-hidden) .js-plotly-plot'"  # one per chart (a chart has two .main-svg)


def _charts_drawn(page, at_least: int, shot: str | None = None) -> None:
    """Wait for the open notebook's charts; `shot` names a screenshot of its last one."""
    page.wait_for_function(f"() => document.querySelectorAll({CHARTS}).length >= {at_least}", timeout=30_000)
    if shot:
        chart = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .js-plotly-plot").last
        chart.scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / shot))


DRAWN: dict[str, int] = {}  # charts JupyterLab drew in each notebook saved for export, by the notebook's name


def _save(page, notebook: str) -> None:
    """Save the open notebook with its outputs (File > Save, as a learner does before exporting) and remember how many
    charts JupyterLab drew in it."""
    DRAWN[notebook] = page.evaluate(f"() => document.querySelectorAll({PLOTS}).length")
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')", timeout=30_000, polling=500
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    """The notebooks' work folder: the one the notebook run used (FTW_WORK_DIR), or a fresh one."""
    return Path(os.environ.get("FTW_WORK_DIR") or tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory) -> Path:
    return Path(os.environ.get("FTW_ENGINE_DIR") or tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory) -> Path:
    """The folder JupyterLab serves: copies of the notebooks, since it autosaves them with their outputs (never the
    committed files); a test saves a notebook here to export it as a learner would."""
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory, lab_root, work_dir, engine_dir):
    """JupyterLab on loopback with a token, notebooks rendered in full (no cell virtualisation)."""
    settings = tmp_path_factory.mktemp("lab-settings")
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))  # no network, no pop-up over the widgets
    port, token = _free_port(), "browser-test-token"
    # the session starts its own engine with Binder's settings: one the notebooks' run left (it exits ~20 s after its
    # last notebook) would otherwise be attached to, with this machine's unlimited memory settings
    stop_process(engine_dir)
    env = {
        **os.environ,
        "FTW_WORK_DIR": str(work_dir),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "FTW_QUICK": os.environ.get("FTW_QUICK", "1"),  # the short run, like the notebooks' CI run before it
        "FTW_ENGINE_DIR": str(engine_dir),
        "FTW_MAX_BATCH_TOKENS": BINDER_BATCH_TOKENS,
    }
    log = open(tmp_path_factory.mktemp("lab-log") / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={lab_root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start; see {log.name}")
        time.sleep(0.5)
    with PeakMemory(lambda: [proc.pid, engine_pid(engine_dir)]) as memory:
        yield url, token, memory
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail(
            "Debian's chromium is not installed: apt-get install -y chromium (nothing here downloads a browser)"
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def _run_all(page, lab, notebook: str, timeout_s: float, checkpoint_fails: str | None = None):
    """Open `notebook` and run every cell; no cell may fail, but for a checkpoint whose message holds
    `checkpoint_fails` (a learner's data that needs the step's way on first)."""
    url, token, memory = lab
    memory.phase = notebook  # the session's memory is reported notebook by notebook
    page.goto(f"{url}/lab/tree/notebooks/{notebook}?token={token}&reset")  # reset: no tabs restored from before
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=120_000)  # the kernel is ready
    for attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(STARTED, timeout=30_000, polling=500)
            break
        except Exception:  # noqa: BLE001 - the menu can open before the kernel is wired up; try again
            page.keyboard.press("Escape")
            if attempt == 2:
                page.screenshot(path=str(SHOTS / f"{notebook}-not-started.png"))
                raise
    if checkpoint_fails is not None:  # the run stops at that checkpoint: the cells after it are never run
        page.get_by_text(checkpoint_fails, exact=False).first.wait_for(timeout=timeout_s * 1000)
        page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=60_000)
        return
    try:
        page.wait_for_function(ALL_CELLS_RAN, timeout=timeout_s * 1000, polling=1000)
    except Exception:
        page.screenshot(path=str(SHOTS / f"{notebook}-timeout.png"), full_page=True)
        raise
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()
    assert not tracebacks, tracebacks[:1]
    noise = [
        t
        for t in page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        if "Warning" in t or "Loading weights" in t
    ]
    assert not noise, noise[
        :1
    ]  # library warnings and progress bars belong in the engine's log, not in front of a learner


THINGS = "report invoice slides budget contract schedule minutes figures draft summary plan quote list notes forecast"
WHENS = "now,today,by noon,before lunch,by Friday,this week,tonight,first thing tomorrow,within the hour,later".split(
    ","
)
LEARNER_ROWS = [
    (f"Send me the {thing} {when}.", f"Could you send me the {thing} {when}, please? Thank you.")
    for thing in THINGS.split()
    for when in WHENS
]  # 150 distinct rows
LEARNER_CSV = (  # a learner's own spreadsheet: 150 rows, 8 exact repeats, an empty cell and a blank one
    "id,blunt,polite,team\n"
    + "".join(f'{i},"{blunt}","{polite}",ops\n' for i, (blunt, polite) in enumerate(LEARNER_ROWS + LEARNER_ROWS[:8], 1))
    + '159,"Where is it?",,ops\n160,"   ","Thanks for waiting.",ops\n'
)


def _run_from(page, cell_text: str, done_text: str, timeout_s: float):
    """Run the open notebook from the cell holding `cell_text` down (Run Selected Cell and All Below), as a learner
    does after changing a widget, until `done_text` is shown and every cell has run."""
    page.locator(".jp-MarkdownCell", has_text=cell_text).first.locator(".jp-InputPrompt").first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run Selected Cell and All Below").first.click()
    page.get_by_text(done_text, exact=False).first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_function(ALL_CELLS_RAN, timeout=timeout_s * 1000, polling=500)
    errors = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()
    assert not errors, errors[:1]


def test_01_prepare_takes_a_learners_own_csv(browser, lab, tmp_path):
    """A learner's own spreadsheet whose column names say nothing (id, blunt, polite, team), with an empty cell, a
    blank one and a duplicate: nothing is converted until the columns are chosen; then every row converts or is
    reported with its record number, and a system prompt typed once goes on every example."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "01_prepare.ipynb", timeout_s=300)
    mine = tmp_path / "my_messages.csv"
    mine.write_text(LEARNER_CSV)
    with page.expect_file_chooser() as chooser:  # the button opens the browser's file dialog, as for a learner
        page.locator(".widget-upload").first.click()
    chooser.value.set_files(str(mine))
    importer = page.locator(".widget-vbox").filter(has=page.locator(".widget-upload")).first
    importer.get_by_text("Which column holds what?").wait_for(timeout=30_000)
    importer.get_by_text("Choose them above, then press Convert", exact=False).wait_for(timeout=30_000)
    convert = importer.get_by_role("button", name="Convert")
    assert convert.is_disabled() and importer.locator("table").count() == 0 and "OK" not in importer.inner_text()
    page.screenshot(path=str(SHOTS / "01_prepare_choose_columns.png"))
    for label, column in (("User column", "blunt"), ("Answer column", "polite")):
        importer.locator(".widget-dropdown").filter(has=page.locator("label", has_text=label)).locator(
            "select"
        ).select_option(column)
    system = (
        importer.locator(".widget-text").filter(has=page.locator("label", has_text="System prompt")).locator("input")
    )
    system.fill("You rewrite blunt messages politely.")
    system.press("Enter")
    convert.click()
    preview = importer.locator("table")
    preview.get_by_text("Could you send me the report now, please?", exact=False).first.wait_for(timeout=30_000)
    said = importer.inner_text()
    assert "160 records read as table rows: 158 converted, 2 reported" in said, said
    assert "record 159 (row 160): 'polite' is empty" in said and "record 160 (row 161): 'blunt' is empty" in said, said
    assert preview.locator("td").all_inner_texts()[0] == "You rewrite blunt messages politely."
    importer.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "01_prepare_upload.png"))
    # then the cells below it again, as the notebook says: steps 2-7 now work on the learner's file
    _run_from(page, "How a CSV converts", "158 examples from", timeout_s=120)
    assert "my_messages.csv" in page.get_by_text("158 examples from", exact=False).first.inner_text()
    page.close()  # the tab closes; its kernel stays open, as a learner leaves it


def test_02_validates_and_drops_the_learners_repeats(browser, lab, work_dir):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "02_validate.ipynb", timeout_s=300)
    _charts_drawn(page, 1)  # the tokens per example
    table = page.locator(".widget-vbox").filter(has=page.locator(".widget-toggle-buttons")).first
    table.scroll_into_view_if_needed()
    findings = table.locator(".widget-html").filter(has=page.locator("th", has_text="problem")).first
    rows = findings.locator("tbody tr")
    before = table.locator(".widget-label").filter(has_text="findings").first.inner_text()
    first_rows = rows.all_inner_texts()
    assert len(first_rows) > 5, first_rows  # the broken sample's findings, rendered as table rows
    assert any("invalid_json" in r for r in first_rows)
    page.screenshot(path=str(SHOTS / "02_validate_table.png"), full_page=False)
    table.locator(".widget-toggle-button", has_text="warning").first.click()
    page.wait_for_function(
        "(b) => ![...document.querySelectorAll('.widget-label')].some(e => e.textContent === b)", arg=before
    )
    after_rows = rows.all_inner_texts()
    after = table.locator(".widget-label").filter(has_text="findings").first.inner_text()
    assert after != before and after_rows != first_rows
    assert after_rows and all("warning" in r for r in after_rows if r.strip())
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "02_validate_filtered.png"))
    trained = page.get_by_text("highlighted", exact=True).first  # what the model learns from
    trained.scroll_into_view_if_needed()
    assert page.get_by_text("tokens train (", exact=False).count() >= 1
    page.screenshot(path=str(SHOTS / "02_validate_trained_tokens.png"))
    # the learner's file: its 8 repeats go with one click into a new file, and the checkpoint passes on that file
    drop = page.get_by_role("button", name="Drop 0 with errors and 8 duplicates")
    drop.scroll_into_view_if_needed()
    drop.click()
    page.get_by_text("dataset.cleaned.jsonl passes every rule: the next steps use it.").wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "02_validate_dropped.png"))
    _run_from(page, "Checkpoint", "dataset.cleaned.jsonl passed every rule: 150 examples", timeout_s=180)
    assert page.get_by_text("Checking the cleaned file: dataset.cleaned.jsonl").count() == 1
    assert (work_dir / "01_prepare" / "dataset.jsonl").read_text().count("\n") == 158  # step 1's file is unchanged
    page.close()


def test_03_split_runs(browser, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "03_split.ipynb", timeout_s=300)
    page.close()


def test_training_curves_render(browser, lab):
    """04_train in the browser: the job monitor's loss curves are drawn by plotly (after the notebook run,
    the kernel re-attaches to the finished job instead of training again)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "04_train.ipynb", timeout_s=1200)
    monitor = page.locator(".widget-vbox").filter(has=page.locator(".widget-button", has_text="Cancel")).first
    monitor.scroll_into_view_if_needed()
    assert "succeeded" in monitor.inner_text()
    plot = monitor.locator(".js-plotly-plot").first
    plot.wait_for(timeout=30_000)
    traces = plot.evaluate("el => el.data.map(t => [t.name, t.y.length])")
    assert [name for name, _ in traces] == ["training loss", "validation loss"] and all(n > 0 for _, n in traces), (
        traces
    )
    page.screenshot(path=str(SHOTS / "04_train_monitor.png"))
    # the Launch button: other settings (a new seed) start a new job, and its monitor replaces the first under the panel
    panel = page.locator(".widget-vbox").filter(has=page.locator(".widget-button", has_text="Launch")).first
    first_job = re.search(r"ftjob-[0-9a-f]+", panel.inner_text()).group(0)  # the launch cell's job, shown in the panel
    seed = panel.locator(".widget-text").filter(has=page.locator("label", has_text="Seed")).locator("input").first
    seed.scroll_into_view_if_needed()
    seed.fill("7")
    seed.press("Enter")
    panel.locator(".widget-button", has_text="Launch").first.click()
    new_job = """([el, old]) => (el.innerText.match(/ftjob-[0-9a-f]+/g) || []).some(id => id !== old)"""
    page.wait_for_function(new_job, arg=[panel.element_handle(), first_job], timeout=120_000, polling=1000)
    second_job = next(j for j in re.findall(r"ftjob-[0-9a-f]+", panel.inner_text()) if j != first_job)
    assert "Launched" in panel.inner_text()
    page.screenshot(path=str(SHOTS / "04_train_launched.png"))
    # while it trains: the live curve has points, with "step x of y" and the time left beside the bar
    live = panel.locator(".widget-vbox").filter(has=page.locator(".widget-button", has_text="Cancel")).first
    page.wait_for_function(
        """(el) => /step \\d+ of \\d+, about \\d+ (s|min) left/.test(el.innerText)""",
        arg=live.element_handle(),
        timeout=300_000,
        polling=500,
    )
    live_plot = live.locator(".js-plotly-plot").first
    live_plot.wait_for(timeout=30_000)
    points = live_plot.evaluate("el => el.data[0].x.length")
    assert points >= 1 and "running" in live.inner_text(), live.inner_text()
    live.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "04_train_live.png"))
    page.wait_for_function(
        "([el, id]) => el.innerText.includes(id + ': succeeded')",
        arg=[panel.element_handle(), second_job],
        timeout=900_000,
        polling=2000,
    )
    page.screenshot(path=str(SHOTS / "04_train_launched_done.png"))
    _save(page, "04_train.ipynb")
    page.close()


PLAYGROUND_PROMPT = "What is 17 + 25?"
ANSWERED = """(el) => {
  const notes = [...el.querySelectorAll('.widget-html')].map(h => h.innerText.trim().split('\\n').pop());
  return notes.length >= 2 && notes.slice(0, 2).every(n => /^\\d+\\.\\d s$/.test(n));
}"""


def test_05_evaluate_and_its_playground(browser, lab, work_dir):
    """05 runs, then a learner types a prompt into the playground: the base and the fine-tuned model both answer,
    side by side, and Add to review queues the pair for step 6."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "05_evaluate.ipynb", timeout_s=900)
    _charts_drawn(page, 2, "05_evaluate_chart.png")  # fine-tuned against base, then against few-shot: intervals
    systems = page.locator(".widget-html").filter(has=page.locator("th", has_text="prompt tokens per request")).first
    rows = systems.locator("tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["base", "few-shot", "fine-tuned"], rows
    assert "examples in the prompt" in rows[1] and "no charge here" in rows[2], rows
    broke = page.locator(".widget-html").filter(has_text="What fine-tuning broke").first
    broke.scroll_into_view_if_needed()
    assert "everyday prompts" in broke.inner_text() and "loss on everyday text" in broke.inner_text()
    page.screenshot(path=str(SHOTS / "05_evaluate_worth_it.png"))
    playground = (
        page.locator(".widget-vbox")
        .filter(has=page.locator("textarea[placeholder='Type a prompt, then press Send']"))
        .first
    )
    playground.scroll_into_view_if_needed()
    playground.locator("textarea").fill(PLAYGROUND_PROMPT)
    playground.get_by_role("button", name="Send").click()
    page.wait_for_function(ANSWERED, arg=playground.element_handle(), timeout=180_000, polling=500)
    boxes = playground.locator(".widget-html").all_inner_texts()
    assert boxes[0].startswith("base") and boxes[1].startswith("fine-tuned"), boxes
    assert all(len(box.strip().splitlines()) >= 3 for box in boxes[:2]), boxes  # a title, an answer, its time
    page.screenshot(path=str(SHOTS / "05_playground.png"))
    playground.get_by_role("button", name="Add to review").click()
    playground.get_by_text("Added: step 6 shows it to you blind", exact=False).wait_for(timeout=30_000)
    queued = (work_dir / "06_review" / "playground_queue.jsonl").read_text()
    assert PLAYGROUND_PROMPT in queued
    _save(page, "05_evaluate.ipynb")
    page.close()


@pytest.mark.parametrize("notebook", ["04_train.ipynb", "05_evaluate.ipynb"])
def test_an_exported_notebook_shows_every_chart_offline(browser, lab_root, tmp_path, notebook):
    """The notebook as the learner saved it, exported with ``jupyter nbconvert --to html`` and opened in Chromium with
    every network request refused (a class handout, an archive): each chart JupyterLab drew is there as a picture,
    and each widget as its final state, though no widget manager or plotly.js loads."""
    if notebook not in DRAWN:
        pytest.fail(f"{notebook} was not run and saved in JupyterLab: its test above failed")
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(tmp_path),
         str(lab_root / "notebooks" / notebook)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    refused = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else (
        refused.append(r.request.url), r.abort()))  # fmt: skip
    page.goto((tmp_path / notebook.replace(".ipynb", ".html")).as_uri())
    pictures = page.evaluate(
        """() => [...document.querySelectorAll('img[src^="data:image/svg+xml"]')]
                 .filter(img => img.complete && img.naturalWidth > 0).length"""
    )
    text = page.inner_text("body")
    page.screenshot(path=str(SHOTS / notebook.replace(".ipynb", "_exported.png")), full_page=True)
    page.close()
    assert refused, "the page asked for nothing online: the test would not show that offline is enough"
    assert pictures >= DRAWN[notebook] > 0, (pictures, DRAWN[notebook])
    assert "<chart:" not in text and not re.search(r"\w+\(children=", text)  # nothing left as a line of text


def test_review_click_appends_an_annotation(browser, lab, work_dir, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "06_review.ipynb", timeout_s=900)
    _charts_drawn(page, 1)  # the blind review's win rates
    # the prompt added from 05's playground waits in its own blind review, apart from the test set's
    page.get_by_text(PLAYGROUND_PROMPT, exact=False).first.wait_for(timeout=30_000)
    reviews = work_dir / "06_review" / "reviews.jsonl"
    lines = reviews.read_text().splitlines() if reviews.exists() else []
    name = page.locator(".widget-text input[placeholder='your name']").first
    name.scroll_into_view_if_needed()
    name.fill("browser-reviewer")
    name.press("Enter")
    button = page.locator(".widget-button", has_text="A is better").first
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.textContent.includes('A is better') && !b.disabled)"
    )
    page.screenshot(path=str(SHOTS / "06_review_before.png"))
    button.click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(reviews.read_text().splitlines()) <= len(lines):
        time.sleep(0.2)
    new = reviews.read_text().splitlines()[len(lines) :]
    assert len(new) == 1, new
    record = json.loads(new[0])
    assert record["reviewer"] == "browser-reviewer" and record["choice"] == "A" and record["action"] == "annotate"
    # the keyboard strip took the focus back after the click: 2 (B is better) goes to the review, not the notebook
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.classList.contains('ftw-keys')", timeout=10_000
    )
    assert "Keyboard on" in page.locator(".ftw-keys").first.inner_text()
    page.keyboard.press("2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(reviews.read_text().splitlines()) <= len(lines) + 1:
        time.sleep(0.2)
    newer = [json.loads(x) for x in reviews.read_text().splitlines()[len(lines) + 1 :]]
    assert [(r["reviewer"], r["choice"]) for r in newer] == [("browser-reviewer", "B")]
    page.screenshot(path=str(SHOTS / "06_review_after.png"))
    # the download: made when pressed (so it holds these two reviews), saved by the browser whatever JupyterLab's root
    download = page.get_by_role("button", name="Download my work (zip)")
    download.scroll_into_view_if_needed()
    with page.expect_download(timeout=120_000) as saved:
        download.click()
    zipped = tmp_path / saved.value.suggested_filename
    saved.value.save_as(zipped)
    with zipfile.ZipFile(zipped) as archive:
        names = set(archive.namelist())
        reviews_csv = archive.read("06_review/reviews.csv").decode()
        card = archive.read("04_train/model/README.md").decode()
    assert saved.value.suggested_filename == "my_work.zip"
    assert {
        "04_train/model/adapter_model.safetensors",
        "04_train/model/adapter_config.json",
        "04_train/model/Modelfile",
        "06_review/preferences.jsonl",
    } <= names, sorted(names)
    clicked = sum('"browser-reviewer"' in line for line in reviews.read_text().splitlines())
    assert clicked >= 2 and reviews_csv.count("browser-reviewer") == clicked, reviews_csv  # made after the clicks
    assert "## Evaluation" in card and "Not evaluated" not in card  # step 5's verdict is on the model's card
    page.get_by_text("made at", exact=False).first.wait_for(timeout=10_000)
    page.screenshot(path=str(SHOTS / "06_review_download.png"))
    page.close()


def test_07_trains_on_facts_with_every_kernel_open(browser, lab):
    """The side lesson trains and serves while the six steps' kernels are still open: the session's fullest moment."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "07_facts_need_retrieval.ipynb", timeout_s=900)
    _charts_drawn(page, 2, "07_facts_chart.png")  # the job's loss curves, and the share right by kind of question
    page.close()


def test_the_whole_session_fits_binder(lab):
    """Seven kernels still open, a job trained from the button while they were, 05's answers served and 07 trained:
    the whole session within 1.6 GB, well under Binder's 2 GB."""
    url, token, memory = lab
    kernels = httpx.get(f"{url}/api/kernels", params={"token": token}, timeout=10).json()
    assert len(kernels) == 7, kernels  # every notebook's kernel is still open
    peak_gb = memory.peak / 2**30
    SHOTS.mkdir(parents=True, exist_ok=True)
    phases = ", ".join(f"{name.split('_')[0]} {pss / 2**30:.2f}" for name, pss in memory.phase_peaks.items())
    sessions = httpx.get(f"{url}/api/sessions", params={"token": token}, timeout=10).json()
    described = memory.describe(top=12)
    for session in sessions:  # each kernel by its notebook's name
        described = re.sub(
            rf"`[^`]*kernel-{session['kernel']['id'][:8]}`", f"`{Path(session['path']).stem}`", described
        )
    (SHOTS / "session_memory.txt").write_text(
        f"whole JupyterLab session peak (PSS): {described}\nthe peak while each notebook ran (GB): {phases}\n"
    )
    assert 0.3 < peak_gb <= SESSION_LIMIT_GB, described
    assert any("ftwidgets.cli" in name for name, _ in memory.at_peak), "the engine process was not measured"
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):  # the session ran on copies: the repository is untouched
        cells = json.loads(path.read_text())["cells"]
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), path.name


def test_a_learners_own_extraction_file_keeps_its_lines_and_gets_field_graders(browser, lab, work_dir, tmp_path):
    """A learner's own JSONL of orders (a message in, a JSON object out) with a line that is not JSON (3), an order
    with no reply (41), an empty answer (61) and a repeat (81): steps 1 and 2, the trained-token view and the Drop
    report name those lines of the learner's file, one true cause each, although step 1's rewritten file has them
    one line higher. Then step 2 proposes valid JSON, the whole object and each field as graders, each passing the
    file's own references."""
    orders = (ROOT / "data" / "samples" / "own_orders.jsonl").read_text().splitlines()
    lines = list(orders)
    lines.insert(2, '{"messages": [{"role": "user", "content": "two lattes"')  # cut short: not JSON
    no_reply = json.loads(lines[40])
    lines[40] = json.dumps({"messages": no_reply["messages"][:-1]})  # ends on the user's turn
    empty = json.loads(lines[60])
    empty["messages"][-1]["content"] = ""
    lines[60] = json.dumps(empty)
    lines[80] = lines[79]  # an exact repeat of the line before
    mine = tmp_path / "my_orders.jsonl"
    mine.write_text("\n".join(lines) + "\n")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "01_prepare.ipynb", timeout_s=300)
    importer = page.locator(".widget-vbox").filter(has=page.locator(".widget-upload")).first
    importer.locator(".widget-text").filter(has=page.locator("label", has_text="Path")).locator("input").fill(str(mine))
    importer.get_by_role("button", name="Use this file").click()
    importer.get_by_text("301 records read as chat: 300 converted, 1 reported", exact=False).wait_for(timeout=30_000)
    assert "line 3: not JSON" in importer.inner_text()
    _run_from(page, "How a CSV converts", "300 examples from", timeout_s=120)
    page.close()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab, "02_validate.ipynb", timeout_s=300, checkpoint_fails="error(s) are listed above")
    findings = page.locator(".widget-html").filter(has=page.locator("th", has_text="problem")).nth(1)
    assert "my_orders.jsonl" in page.get_by_text("the file you brought", exact=False).first.inner_text()
    rows = {row.split("\t")[0].strip(): row for row in findings.locator("tbody tr").all_inner_texts()}
    assert "example_missing_assistant_message" in rows["41"] and "missing_content" in rows["61"], rows
    trained = page.get_by_text("trains on no token", exact=False).first.inner_text()
    assert trained.startswith("line 41 of my_orders.jsonl") and "no assistant reply" in trained, trained
    page.screenshot(path=str(SHOTS / "02_validate_own_lines.png"))
    drop = page.get_by_role("button", name="Drop 2 with errors and 1 duplicates")
    drop.scroll_into_view_if_needed()
    drop.click()
    said = page.get_by_text("(my_orders.jsonl is unchanged)", exact=False).first
    said.wait_for(timeout=60_000)
    dropped = said.locator("xpath=..").inner_text()
    assert "line 41 of my_orders.jsonl" in dropped and "line 61 of my_orders.jsonl" in dropped, dropped
    assert "duplicates dropped: line 81 of my_orders.jsonl" in dropped, dropped
    _run_from(page, "Checkpoint", "dataset.cleaned.jsonl passed every rule: 297 examples", timeout_s=180)
    graders = page.locator(".widget-vbox").filter(has=page.get_by_text("Graders for", exact=False)).last
    graders.get_by_text("every reference answer passes all 8 graders", exact=False).wait_for(timeout=30_000)
    grader_rows = graders.locator("tbody tr").all_inner_texts()
    names = [row.split("\t")[0].strip() for row in grader_rows]
    assert names[:3] == ["valid JSON", "exact match", "field name"] and "field pickup_time" in names, grader_rows
    assert all("100% of 297" in row for row in grader_rows), grader_rows  # every reference passes its own graders
    graders.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "02_validate_graders.png"))
    saved = json.loads((work_dir / "02_validate" / "graders.json").read_text())
    assert [g["name"] for g in saved] == names
    page.close()
