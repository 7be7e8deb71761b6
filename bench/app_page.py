"""How long the web page (`app.py`) takes to answer, against the pipeline's own time on the same record, side by side.

Starts `python app.py --model MODEL` on a free port of 127.0.0.1, opens it in Debian's headless chromium (selenium),
uploads the record once, and times, per repeat, the click on "Score" until the scores table shows the answer (the
upload read, the findings scored with their attention, the plot drawn and sent, the page updated). Two findings texts
alternate (the model's first ten labels, then the first nine) so that every answer changes the table. In this process
the same model scores the same record with the same findings through `pipeline(...)`, timed in the same way, between
the page's repeats. Prints the medians and their ratio, with the load average (the machine may be shared).

    python bench/app_page.py --model demo-output/run/model --record .../records500/00000/00001_hr [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-output/run/model")
    parser.add_argument("--record", required=True, help="WFDB record (.hea with .dat), without extension")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--screenshot", help="PNG of the page after the last answer")
    return parser.parse_args()


def start_app(model: str, tmp: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "app.py", "--model", model, "--port", str(port)], cwd=REPO_ROOT,
                              env={**os.environ, "TMPDIR": tmp}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return server, url
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"app.py exited with {server.returncode}")
            time.sleep(0.5)
    raise SystemExit("app.py did not start")


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def page_answer_seconds(driver, findings: str, rows: int) -> float:
    """Type the findings, click Score, and wait until the table lists `rows` findings."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.CSS_SELECTOR, "#findings textarea")
    box.clear()
    box.send_keys(findings)
    started = time.perf_counter()
    driver.find_element(By.CSS_SELECTOR, "#score-button").click()
    WebDriverWait(driver, 120, poll_frequency=0.01).until(
        lambda page: len(page.find_elements(By.CSS_SELECTOR, "#scores-table td.score")) == rows)
    return time.perf_counter() - started


def main() -> int:
    args = parse_args()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from modeling_supreme.ecg_app.analysis import load_classifier
    from modeling_supreme.ecg_app.findings import default_findings, parse_findings

    classifier = load_classifier(args.model)
    ten = default_findings(classifier.model.config)
    texts = [ten, "\n".join(ten.splitlines()[:-1])]
    findings = [parse_findings(text) for text in texts]
    record = Path(args.record)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_app(args.model, tmp)
        driver = open_browser()
        try:
            driver.get(url)
            files = [record.with_name(record.name + suffix) for suffix in (".hea", ".dat")]
            WebDriverWait(driver, 120).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#upload input"))
            driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys("\n".join(map(str, files)))
            WebDriverWait(driver, 60).until(lambda page: all(  # listed (stem and suffix on two lines) once uploaded
                path.name in page.find_element(By.CSS_SELECTOR, "#upload").text.replace("\n", "") for path in files))
            for index in (0, 1):  # warm-up: label embeddings cached on both sides
                page_answer_seconds(driver, texts[index], len(findings[index]))
                classifier(str(record), candidate_labels=findings[index])
            page, pipeline = [], []
            for repeat in range(args.repeats):
                index = repeat % 2
                page.append(page_answer_seconds(driver, texts[index], len(findings[index])))
                started = time.perf_counter()
                classifier(str(record), candidate_labels=findings[index])
                pipeline.append(time.perf_counter() - started)
            if args.screenshot:
                driver.save_screenshot(args.screenshot)
        finally:
            driver.quit()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    page_median, pipeline_median = statistics.median(page), statistics.median(pipeline)
    print(f"model {args.model}, record {record.name}, {args.repeats} answers of 10 / 9 findings, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  page (click -> scores shown): median {page_median:.3f} s, max {max(page):.3f} s")
    print(f"  pipeline(...) in process:     median {pipeline_median:.3f} s, max {max(pipeline):.3f} s")
    print(f"  page / pipeline: {page_median / pipeline_median:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
