"""How long the web page (`app.py`) takes to answer, against the pipeline's own time on the same records, side by side.

Starts `python app.py --model MODEL` on a free port of 127.0.0.1 (and, with `--baseline DIR`, the `app.py` of another
checkout, e.g. `git worktree add /tmp/base main`, on a second port), opens each in Debian's headless chromium
(selenium), and times in the page itself (a MutationObserver, no polling from outside) the click on "Score" until
the answer is shown: the scores table lists the findings and the ECG view shows the new top finding with its image
decoded. Two series, the pages taking turns answer by answer:

- new record: each answer on another example record (chosen in the page's list, read by the server), so nothing
  drawn for an earlier record can be reused;
- same upload: the record `--record` uploaded once, then answers alternating two findings texts (the model's first
  ten labels, and those without the first answer's top finding, so that every answer shows another finding).

In this process the same model scores the same records with the same findings through `pipeline(...)`, timed between
the pages' answers, with torch's default threads and with one (the page's default, `app.py --threads`). Prints the
medians and the ratio of each page to the faster pipeline, with the load average (the machine may be shared).

    python bench/app_page.py --model demo-output/run/model --record .../records500/00000/00001_hr [--repeats 10] \\
        [--threads 1 2] [--baseline /tmp/base]
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
# Click "Score", then resolve with [seconds to the scores table, seconds to the ECG view] once both show the answer.
TIME_ANSWER_JS = """
const [rows, done] = [arguments[0], arguments[arguments.length - 1]];
// What changes with an answer (the pending spinner Gradio lays over each output does not count).
const table = () => {
  const element = document.querySelector('#scores-table');
  return element ? element.textContent : '';
};
const view = () => {
  const image = document.querySelector('#ecg-plot img'), title = document.querySelector('#ecg-plot .ecg-title');
  return [image, (image ? image.src : '') + '|' + (title ? title.textContent : '')];
};
const [tableBefore, viewBefore] = [table(), view()[1]];
const started = performance.now();
let scores = null, shown = null, decoding = false, finished = false;
const finish = () => {
  if (!finished && scores !== null && shown !== null) { finished = true; observer.disconnect(); done([scores, shown]); }
};
const check = () => {
  if (scores === null && table() !== tableBefore && document.querySelectorAll('#scores-table td.score').length === rows)
    scores = (performance.now() - started) / 1000;
  const [image, now] = view();
  if (!decoding && image && now !== viewBefore) {
    decoding = true;
    image.decode().catch(() => null).then(() => { shown = (performance.now() - started) / 1000; finish(); });
  }
  finish();
};
const observer = new MutationObserver(check);
observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
document.querySelector('#score-button').click();
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-output/run/model")
    parser.add_argument("--record", required=True, help="WFDB record (.hea with .dat), without extension")
    parser.add_argument("--repeats", type=int, default=10, help="answers per page and series")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="this checkout's page once per value of its --threads (model threads)")
    parser.add_argument("--baseline", type=Path, help="another checkout whose app.py answers in turn with this one")
    parser.add_argument("--screenshot", help="PNG of this checkout's page after its last answer")
    return parser.parse_args()


def start_app(root: Path, model: str, tmp: str, options: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "app.py", "--model", str(Path(model).resolve()), "--port", str(port), *options]
    server = subprocess.Popen(command, cwd=root, env={**os.environ, "TMPDIR": tmp}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return server, url
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"{root}/app.py exited with {server.returncode}")
            time.sleep(0.5)
    raise SystemExit(f"{root}/app.py did not start")


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(120)
    return driver


class Page:
    """One app's page in its own browser tab."""

    def __init__(self, driver, url: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        driver.switch_to.new_window("tab")
        self.handle = driver.current_window_handle
        driver.get(url)
        WebDriverWait(driver, 120).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#upload input"))

    def answer(self, findings: str, rows: int, example: str | None = None) -> tuple[float, float]:
        """(seconds to the scores, seconds to the ECG view) of one click on Score."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver.switch_to.window(self.handle)
        if example is not None:
            choice = self.driver.find_element(By.CSS_SELECTOR, "#example input")
            choice.click()
            choice.send_keys(Keys.CONTROL, "a")
            choice.send_keys(example, Keys.ENTER)
        box = self.driver.find_element(By.CSS_SELECTOR, "#findings textarea")
        box.clear()
        box.send_keys(findings)
        seconds = tuple(self.driver.execute_async_script(TIME_ANSWER_JS, rows))
        shown = self.driver.find_element(By.CSS_SELECTOR, "#metadata").text
        if example is not None and example not in shown:
            raise SystemExit(f"the page did not answer on the example {example}: {shown[:200]}")
        return seconds

    def upload(self, files: list[Path]) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.switch_to.window(self.handle)
        self.driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys("\n".join(map(str, files)))
        WebDriverWait(self.driver, 60).until(lambda page: all(  # listed (stem and suffix on two lines) once uploaded
            path.name in page.find_element(By.CSS_SELECTOR, "#upload").text.replace("\n", "") for path in files))


def timed_pipeline(classifier, record: str, findings: dict, threads: int) -> float:
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        started = time.perf_counter()
        classifier(record, candidate_labels=findings)
        return time.perf_counter() - started
    finally:
        torch.set_num_threads(default)


def summary(name: str, seconds: list[float]) -> str:
    return f"{name}: median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s"


def main() -> int:
    args = parse_args()
    import torch

    from modeling_supreme.ecg_app.analysis import load_classifier
    from modeling_supreme.ecg_app.findings import default_findings, parse_findings
    from modeling_supreme.ecg_app.uploads import example_records

    classifier = load_classifier(args.model)
    threads = sorted({torch.get_num_threads(), 1}, reverse=True)
    ten = default_findings(classifier.model.config)
    record = Path(args.record)
    examples = list(example_records().items())
    if len(examples) < args.repeats + 1:
        raise SystemExit(f"needs {args.repeats + 1} example records (SUPREME_DATA_DIR), found {len(examples)}")
    # name -> (checkout, app.py options)
    roots = {f"this checkout, --threads {count}": (REPO_ROOT, ["--threads", str(count)]) for count in args.threads}
    if args.baseline:
        roots[f"baseline {args.baseline}"] = (args.baseline, [])
    page_times = {(name, series): [] for name in roots for series in ("new record", "same upload")}
    pipeline_times = {(threads_, series): [] for threads_ in threads for series in ("new record", "same upload")}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        servers = {name: start_app(root, args.model, tmp, options) for name, (root, options) in roots.items()}
        driver = open_browser()
        try:
            pages = {name: Page(driver, url) for name, (_, url) in servers.items()}
            rows = len(parse_findings(ten))
            for page in pages.values():  # warm-up: label embeddings cached on both sides
                page.answer(ten, rows, examples[0][0])
            for index in range(args.repeats):
                name, path = examples[index + 1]
                for page_name, page in pages.items():
                    page_times[page_name, "new record"].append(page.answer(ten, rows, name))
                for threads_ in threads:
                    pipeline_times[threads_, "new record"].append(
                        timed_pipeline(classifier, str(path), parse_findings(ten), threads_))
            loads.append(os.getloadavg()[0])
            files = [record.with_name(record.name + suffix) for suffix in (".hea", ".dat")]
            top = classifier(str(record), candidate_labels=parse_findings(ten))[0]["label"]
            without_top = "\n".join(line for line in ten.splitlines() if line.split(":")[0] != top)
            texts = [ten, without_top]
            for page in pages.values():
                page.upload(files)
                page.answer(without_top, rows - 1)  # the series then starts with the ten
            for repeat in range(args.repeats):
                text = texts[repeat % 2]
                findings = parse_findings(text)
                for page_name, page in pages.items():
                    page_times[page_name, "same upload"].append(page.answer(text, len(findings)))
                for threads_ in threads:
                    pipeline_times[threads_, "same upload"].append(
                        timed_pipeline(classifier, str(record), findings, threads_))
            loads.append(os.getloadavg()[0])
            if args.screenshot:
                driver.switch_to.window(next(iter(pages.values())).handle)
                driver.save_screenshot(args.screenshot)
        finally:
            driver.quit()
            for server, _ in servers.values():
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
    print(f"model {args.model}, {args.repeats} answers per page and series, 10 / 9 findings, load average "
          f"{' / '.join(f'{load:.1f}' for load in loads)} (start / middle / end) on {os.cpu_count()} cores")
    for series in ("new record", "same upload"):
        print(f"{series} ({'example records 2-' + str(args.repeats + 1) if series == 'new record' else record.name}):")
        floor = min(statistics.median(pipeline_times[threads_, series]) for threads_ in threads)
        for threads_ in threads:
            print(f"  {summary(f'pipeline(...), {threads_} thread(s)', pipeline_times[threads_, series])}")
        for name in roots:
            shown = [max(times) for times in page_times[name, series]]
            table = [times[0] for times in page_times[name, series]]
            print(f"  {name}: {summary('answer shown', shown)}; {summary('scores', table)}; "
                  f"page / fastest pipeline {statistics.median(shown) / floor:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
