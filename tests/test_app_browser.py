"""The web page (`app.py`) in a real browser: Debian's chromium driven by selenium against the app started on
127.0.0.1 with a tiny model. Upload a PTB-XL record, type three findings, read the scores from the page and compare them
with the pipeline's; upload a corrupt record and read the error; the server leaves no process and no upload behind.

Needs `pip install -e .[app,dev]` (gradio, selenium) and `apt-get install chromium chromium-driver` (`.ci/run` installs
them); without them the test is skipped with the missing package named.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.process_helpers import alive, descendants, survivors
from tests.sample_data import REPO_ROOT, ptbxl_record

pytestmark = pytest.mark.slow

pytest.importorskip("gradio", reason="the page needs gradio: pip install -e .[app]")
pytest.importorskip("selenium", reason="the browser test needs selenium: pip install -e .[dev]")

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("the browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)

FINDINGS = {"atrial fibrillation": ["atrial fibrillation"], "NORM": ["normal ecg", "sinus rhythm"],
            "left bundle branch block": ["left bundle branch block"]}
FINDINGS_TEXT = "atrial fibrillation\nNORM: normal ecg | sinus rhythm\nleft bundle branch block"
STARTUP_TIMEOUT_S = 180
ANSWER_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the app exited with {server.returncode} before serving:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the app did not serve {url} within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def app_server(tmp_path, tiny_checkpoint):
    """(url, checkpoint) of `python app.py` on a free port of 127.0.0.1; stopped with SIGTERM at the end, after which
    neither it nor any child may be alive and its temporary folder (where uploads go) must be empty."""
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    port = _free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "TMPDIR": str(server_tmp), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "app.py", "--model", str(tiny_checkpoint), "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    children: set[int] = set()
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_serving(url, server, log)
        yield url, tiny_checkpoint
        children = descendants(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail(f"the app did not stop on SIGTERM:\n{log.read_text()[-3000:]}")
    assert not alive(server.pid)
    assert not survivors(children), "a child of the app survived it"
    left = sorted(str(path.relative_to(server_tmp)) for path in server_tmp.rglob("*"))
    assert not left, f"the app left files in its temporary folder: {left}"


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1900",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver_pid = driver.service.process.pid
    browser_processes = descendants(driver_pid)
    try:
        yield driver
    finally:
        driver.quit()
    assert not survivors(browser_processes | {driver_pid}), "a chromium process survived the test"


def _wait_for(driver, css: str, timeout: float = ANSWER_TIMEOUT_S):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda page: page.find_elements(By.CSS_SELECTOR, css)
    )


def _submit(driver, url: str, files: list[Path], findings: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    upload = _wait_for(driver, "#upload input[type=file]")[0]
    upload.send_keys("\n".join(str(path) for path in files))
    box = _wait_for(driver, "#findings textarea")[0]  # a loaded machine may render it after the upload box
    box.clear()
    box.send_keys(findings)
    _wait_until_uploaded(driver, [path.name for path in files])  # the files are listed once uploaded
    driver.find_element(By.CSS_SELECTOR, "#score-button").click()


def _wait_until_uploaded(driver, names: list[str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30, poll_frequency=0.1).until(
        # the list shows each name's stem and suffix on separate lines
        lambda page: all(name in page.find_element(By.CSS_SELECTOR, "#upload").text.replace("\n", "") for name in names)
    )


def _record_files(record: Path) -> list[Path]:
    return [record.with_name(record.name + ".hea"), record.with_name(record.name + ".dat")]


def test_page_scores_an_uploaded_record_as_the_pipeline_does_and_shows_a_corrupt_ones_error(
    app_server, browser, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from transformers import pipeline

    from modeling_supreme.pipeline_ecg_zero_shot import EcgZeroShotPipeline

    url, checkpoint = app_server
    record = ptbxl_record(1, rate=500)
    _submit(browser, url, _record_files(record), FINDINGS_TEXT)
    _wait_for(browser, "#scores-table td.score")
    rows = browser.find_elements(By.CSS_SELECTOR, "#scores-table tr")[1:]
    page_scores = {row.find_element(By.CSS_SELECTOR, ".finding").text: float(row.find_element(By.CSS_SELECTOR,
                   ".score").text) for row in rows}

    classifier = pipeline("ecg-zero-shot", model=str(checkpoint), pipeline_class=EcgZeroShotPipeline)
    expected = classifier(str(record), candidate_labels=FINDINGS)
    assert list(page_scores) == [item["label"] for item in expected]  # same findings, highest first
    for item in expected:
        assert page_scores[item["label"]] == pytest.approx(item["score"], abs=1e-4)
    assert "not a diagnostic device" in browser.find_element(By.CSS_SELECTOR, "#warning-banner").text
    assert f"{record.name}.hea" in browser.find_element(By.CSS_SELECTOR, "#metadata").text
    assert _wait_for(browser, "#ecg-plot img")
    screenshot = tmp_path / "app.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG")

    # A click on another finding's bar shows that finding on the ECG.
    other = expected[-1]["label"]
    browser.find_element(By.CSS_SELECTOR, f"#bars button[data-testid='{other}-confidence-set']").click()
    _wait_for_value(browser, "#finding input", other)

    # A record whose data file is cut short: the page names it and the problem, with no traceback.
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    header, data = _record_files(record)
    shutil.copyfile(header, corrupt / header.name)
    (corrupt / data.name).write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    _submit(browser, url, [corrupt / header.name, corrupt / data.name], FINDINGS_TEXT)
    message = _wait_for(browser, "#error-box")[0].text
    assert record.name in message and "truncated" in message
    assert str(corrupt) not in message and "Traceback" not in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, "#scores-table td.score")

    # An upload above 50 MB is refused before it reaches the server (a sparse file: nothing is written).
    large = tmp_path / "large.npy"
    with open(large, "wb") as handle:
        handle.truncate(51 * 2**20)
    browser.get(url)
    _wait_for(browser, "#upload input[type=file]")[0].send_keys(str(large))
    WebDriverWait(browser, 30, poll_frequency=0.1).until(lambda page: "exceed the maximum allowed size of 50" in
                                                         page.find_element(By.TAG_NAME, "body").text)


def _wait_for_value(driver, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, ANSWER_TIMEOUT_S, poll_frequency=0.05).until(
        lambda page: page.find_element(By.CSS_SELECTOR, css).get_attribute("value") == value
    )
