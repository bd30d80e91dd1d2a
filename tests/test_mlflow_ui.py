"""The MLflow UI as a person uses it, in a real browser (Playwright driving Debian's chromium)
on a tiny real study of two seeds: the printed address lands on the study's training runs
in the model-training view, grouping by the ``config`` tag gives one group per row, the
HTML report renders in MLflow's artifact view, and a row's link in the standalone page opens
Compare on exactly that row's runs.

``SENET_SCREENSHOTS=docs`` saves the screenshots the README shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, paper_tables
from tests.mlflow_server import LocalMlflowServer

CHROMIUM = "/usr/bin/chromium"
STUDY = "ui"


def _need(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _need(f"no browser at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def study(tmp_path_factory, data_root, cache_dir):
    """The study, its report and an ``mlflow ui`` on it: (the address the launcher printed,
    rewritten to the test's port; the UI's address; the report folder; the tracking URI)."""
    tmp = tmp_path_factory.mktemp("ui")
    env = {**os.environ, "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    tracking = f"sqlite:///{tmp / 'runs' / 'mlflow.db'}"
    sweep = subprocess.run([sys.executable, str(ROOT / "run_sweep.py"), *paper_tables(tmp, 10, 11), "--preset", "tiny",
                            "--seeds", "2", "--study", STUDY, "--run-dir", str(tmp / "runs"), "--data-root",
                            str(data_root), "--no-progress"], cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-2000:]
    printed = re.search(r"then open (\S+)", sweep.stdout).group(1)
    server = LocalMlflowServer(tracking, tmp / "artifacts", tmp / "mlflow-server.log")
    address = server.url
    report = subprocess.run([sys.executable, "-m", "report", "--study", STUDY, "--tracking-uri", tracking,
                             "--format", "html,md", "--out", str(tmp / "report"), "--ui-address", address],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    try:
        server.start()
        yield printed.replace("http://127.0.0.1:5000", address), address, tmp / "report", tracking
    finally:
        server.stop()


def _page(browser):
    return browser.new_page(viewport={"width": 1500, "height": 900})


def _shot(page, name: str) -> None:
    if folder := os.environ.get("SENET_SCREENSHOTS"):
        page.screenshot(path=str(ROOT / folder / name))


RUN_NAMES = [f"T10 {r} s{s}" for r in ("2", "4", "8", "16 (+1)", "32", "original") for s in (0, 1)] + [
    "T11 Max s0", "T11 Max s1"]


def test_the_printed_address_lists_the_studys_runs_in_the_model_training_view(browser, study):
    printed, address, _, _ = study
    assert "workflowType=machine_learning" in printed
    page = _page(browser)
    page.goto(printed)
    page.get_by_text("T10 8 s0", exact=True).wait_for(timeout=60_000)
    sidebar = page.inner_text("aside")  # the GenAI view's lists Traces, Judges, Prompts
    assert "Model registry" in sidebar and "Judges" not in sidebar, sidebar
    assert page.get_by_text("14 matching runs").is_visible()
    for name in RUN_NAMES:  # flat (not folded under the parent run), named so they fit
        assert page.get_by_role("link", name=name, exact=True).is_visible(), name
    assert page.get_by_text("cifar10/train[256]").first.is_visible()  # each run's dataset input
    _shot(page, "mlflow-runs.png")
    page.close()


def test_one_filter_finds_table_10_and_grouping_by_config_names_groups_after_rows(browser, study):
    _, address, _, _ = study
    from ablations.tracking.links import runs_view_url

    page = _page(browser)
    page.goto(runs_view_url("1", address, "tags.t10 != ''"))
    page.get_by_text("T10 8 s0", exact=True).wait_for(timeout=60_000)
    assert page.get_by_text("12 matching runs").is_visible()
    assert page.get_by_role("link", name="T11 Max s0").count() == 0
    page.get_by_role("button", name="Group by").click()
    page.get_by_placeholder("Search").fill("config")
    page.get_by_role("menuitemcheckbox", name="config", exact=True).click()
    page.keyboard.press("Escape")
    for row in ("2", "4", "8", "32"):
        page.get_by_text(f"Group: T10 {row}", exact=True).wait_for(timeout=20_000)
    assert page.get_by_text(re.compile(r"^Group: ")).count() == 6  # one per configuration of Table 10
    _shot(page, "mlflow-grouped.png")
    page.close()


def test_the_html_report_renders_in_mlflows_artifact_view(browser, study):
    _, address, _, tracking = study
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name(STUDY)
    parent = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'study'")[0]
    assert parent.info.status == "FINISHED"
    page = _page(browser)
    page.goto(f"{address}/#/experiments/{exp.experiment_id}/runs/{parent.info.run_id}/artifacts/"
              "report/ablation_report.html?workflowType=machine_learning")
    frame = page.frame_locator("iframe").first
    frame.get_by_text("Table 10: Reduction ratio r").wait_for(timeout=60_000)
    assert frame.get_by_text("tags.t10 = '8'", exact=True).is_visible()  # the filter to copy
    _shot(page, "mlflow-html-report.png")
    page.close()


def test_a_rows_link_in_the_html_page_opens_compare_on_exactly_its_runs(browser, study):
    _, _, report, _ = study
    page = _page(browser)
    page.goto((report / "ablation_report.html").as_uri())
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="8", exact=True).click()
    compare = opened.value
    compare.get_by_text("T10 8 s0").first.wait_for(timeout=60_000)
    assert "/compare-runs" in compare.url
    body = compare.inner_text("body")
    assert "T10 8 s1" in body
    assert not [n for n in RUN_NAMES if n not in ("T10 8 s0", "T10 8 s1") and n in body]
    _shot(compare, "mlflow-compare-row.png")
    compare.close()
    page.close()
