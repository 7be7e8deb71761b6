"""MIMIC-IV-ECG at scale, by simulation: how each step of the pipeline grows with the number of records.

For each N of `--records`, writes a synthetic MIMIC-IV-ECG 1.0 tree (`synthetic_mimic.py`: the release's layout, WFDB
format 16, 500 Hz, 5000 samples, aVF before aVL, machine reports from a grammar with MIMIC-like repetition, one of each
kind of bad input per 1,000 records) and runs each step as a user does, as a subprocess of the real script:

- `build_mimic_iv_ecg.py` with 1 and 2 processes (records/s, per process, peak RSS of the main process and of a
  worker, bytes per record on disk, shards, rejects per category against the planted bad input);
- for the largest N only: the same build killed (SIGKILL) at about half and run again, rows compared with the
  uninterrupted build's;
- `extract_entities.py --extractor lexicon` (reports/s, peak RSS, the datasets cache it writes);
- the label vocabulary as training builds it (`resolve_vocabulary`);
- the training loader's first epoch (the trainer's own DataLoader, 1 worker; ECG/s, peak RSS of the main process and
  of the worker, the `TargetTable`'s bytes);
- `train_accelerate.py`: 2 steps with one checkpoint saved, then `--resume` for 1 more step (seconds each).

`--text-reports` adds the text-only steps (extraction, vocabulary) on datasets of that many reports without signals
(e.g. 800000, MIMIC's count). Every figure is measured in this run; `/proc/loadavg` is printed beside each step (the
machine may be shared). Peak RSS is the kernel's high-water mark (VmHWM) of each process, which counts the pages of
memory-mapped files it touched (Arrow tables); the largest anonymous RSS (RssAnon, memory the process itself holds) is
sampled every 0.1 s beside it.

    python bench/scale.py                                   # N = 1,000 (a few minutes)
    python bench/scale.py --records 1000 10000 100000 --text-reports 1000 100000 800000 --json scale.json

The work folder (default: a temporary folder) is deleted at the end unless `--keep`; each N's tree and outputs are
deleted before the next N is written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from synthetic_mimic import BadInput, report_fragments, write_tree

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "datasets_scripts" / "build_mimic_iv_ecg.py"
EXTRACT = REPO / "datasets_scripts" / "extract_entities.py"
TRAIN = REPO / "train_accelerate.py"
POLL_SECONDS = 0.1
MODEL_CONFIG = ["sampling_rate=500", "num_samples=5000"]


# ----------------------------------------------------------------------------------------------------------
# Measuring a subprocess: wall time, peak RSS of the main process and of its children
# ----------------------------------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                stack.append(child)
    return found


class Watched:
    """A subprocess with a thread polling the peak RSS (VmHWM) of it and of each of its descendants. Only `finished`
    and `wait` reap the process (with `os.wait4`, which gives its CPU time); the thread never does."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.main_kb = self.child_kb = 0  # peak RSS (VmHWM), mapped file pages included
        self.main_anon_kb = self.child_anon_kb = 0  # largest anonymous RSS seen (RssAnon): memory the process owns
        self._ended: tuple[int, Any, float] | None = None  # (wait status, rusage, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.main_kb = max(self.main_kb, _status_kb(self.process.pid, "VmHWM"))
            self.main_anon_kb = max(self.main_anon_kb, _status_kb(self.process.pid, "RssAnon"))
            for child in _descendants(self.process.pid):
                self.child_kb = max(self.child_kb, _status_kb(child, "VmHWM"))
                self.child_anon_kb = max(self.child_anon_kb, _status_kb(child, "RssAnon"))
            self._stop.wait(POLL_SECONDS)

    def finished(self) -> bool:
        """Whether the process has ended (reaping it if so)."""
        if self._ended is None:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self._ended = (status, usage, time.perf_counter() - self.started)
        return self._ended is not None

    def wait(self) -> dict[str, Any]:
        """Wait for the end; -> seconds, CPU seconds (user + system, of the process and the children it waited for),
        return code, peak RSS (MB) of the main process and of any child."""
        if self._ended is None:
            _, status, usage = os.wait4(self.process.pid, 0)
            self._ended = (status, usage, time.perf_counter() - self.started)
        status, usage, seconds = self._ended
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._stop.set()
        self._thread.join()
        self.log.close()
        return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "returncode": self.process.returncode, "main_rss_mb": self.main_kb / 1024,
                "child_rss_mb": self.child_kb / 1024, "main_anon_mb": self.main_anon_kb / 1024,
                "child_anon_mb": self.child_anon_kb / 1024}

    def kill(self) -> None:
        """SIGKILL to the main process alone (as the OOM killer or `kill -9 PID` sends it); its workers must end
        with it by themselves."""
        os.kill(self.process.pid, signal.SIGKILL)


def run_step(command: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one command to its end, measured; raises with the log's tail when it fails."""
    load = Path("/proc/loadavg").read_text().split()[0]
    result = Watched(command, env, log).wait()
    result["load_before"] = float(load)
    result["load_after"] = float(Path("/proc/loadavg").read_text().split()[0])
    if result["returncode"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result['returncode']}):\n{log.read_text()[-3000:]}")
    return result


# ----------------------------------------------------------------------------------------------------------
# What a step left behind
# ----------------------------------------------------------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def shards_of(folder: Path) -> list[Path]:
    return sorted((folder / "data").glob("train-*.parquet"))


def rows_of(folder: Path) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in shards_of(folder))


def rejects_by_category(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in (folder / "rejects.jsonl").read_text().splitlines():
        if line.strip():
            category = json.loads(line)["category"]
            counts[category] = counts.get(category, 0) + 1
    return counts


def same_rows(first: Path, second: Path) -> bool:
    """Whether two builds hold the same rows in the same order, compared shard by shard (bounded memory)."""
    left, right = shards_of(first), shards_of(second)
    if [path.name for path in left] != [path.name for path in right]:
        return False
    return all(pq.read_table(a).equals(pq.read_table(b)) for a, b in zip(left, right))


# ----------------------------------------------------------------------------------------------------------
# The steps
# ----------------------------------------------------------------------------------------------------------


def build(tree: Path, out: Path, num_proc: int, env: dict[str, str], logs: Path) -> dict[str, Any]:
    command = [sys.executable, str(BUILD), "--root", str(tree), "--out", str(out), "--num-proc", str(num_proc)]
    result = run_step(command, env, logs / f"build-{num_proc}.log")
    rows = rows_of(out)
    data_bytes = sum(path.stat().st_size for path in shards_of(out))
    # The builder's own timing of its loop over the records (the script's start-up and imports left out).
    loop = re.search(r"records read in ([0-9.]+) s", (logs / f"build-{num_proc}.log").read_text())
    result["core_seconds"] = float(loop.group(1)) if loop else result["seconds"]
    result.update(rows=rows, records_per_s=rows / result["core_seconds"],
                  records_per_s_per_process=rows / result["core_seconds"] / num_proc,
                  bytes_per_record=data_bytes / rows, shards=len(shards_of(out)), rejects=rejects_by_category(out))
    return result


def killed_and_resumed(tree: Path, out: Path, reference: Path, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """Build with 2 processes, SIGKILL it once progress.json says about half of the records are done, run the same
    command again; compare the rows with the uninterrupted build's."""
    command = [sys.executable, str(BUILD), "--root", str(tree), "--out", str(out), "--num-proc", "2"]
    target = rows_of(reference) // 2
    watched = Watched(command, env, logs / "build-killed.log")
    done = 0
    while not watched.finished():
        try:
            progress = json.loads((out / "progress.json").read_text())
            done = sum(shard["rows"] for split in progress["splits"].values() for shard in split["shards"])
        except (OSError, ValueError, KeyError):
            pass
        if done >= target:
            watched.kill()
            break
        time.sleep(0.2)
    survivors = _descendants(watched.process.pid)  # before the reap: a killed build's workers end with it
    killed = watched.wait()
    time.sleep(2.0)
    survivors = [pid for pid in survivors if Path(f"/proc/{pid}").exists()]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(watched.process.pid, signal.SIGKILL)  # whatever survived, so that no stray process is left
    resumed = run_step(command, env, logs / "build-resumed.log")
    return {"killed_after_rows": done, "killed_at_s": killed["seconds"], "resume_seconds": resumed["seconds"],
            "resume_main_rss_mb": resumed["main_rss_mb"], "resume_main_anon_mb": resumed["main_anon_mb"],
            "identical_rows": same_rows(out, reference),
            "workers_left_after_kill": len(survivors)}


def extract(dataset: Path, out: Path, env: dict[str, str], logs: Path, name: str) -> dict[str, Any]:
    cache = Path(env["HF_DATASETS_CACHE"])
    before = folder_bytes(cache)
    command = [sys.executable, str(EXTRACT), "--dataset", str(dataset), "--out", str(out), "--extractor", "lexicon",
               "--num-proc", "2"]
    result = run_step(command, env, logs / f"{name}.log")
    rows = rows_of(out)
    # The script's own timing of the extraction (start-up and imports left out).
    loop = re.search(r"rows annotated in ([0-9.]+) s", (logs / f"{name}.log").read_text())
    result["core_seconds"] = float(loop.group(1)) if loop else result["seconds"]
    result.update(rows=rows, reports_per_s=rows / result["core_seconds"],
                  datasets_cache_mb=(folder_bytes(cache) - before) / 1e6, output_mb=folder_bytes(out) / 1e6)
    return result


def child_step(kind: str, dataset: Path, work: Path, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """This script run as a child (`--child KIND`) on `dataset`; its JSON answer merged into the measurements."""
    answer = work / f"{kind}.json"
    command = [sys.executable, __file__, "--child", kind, "--dataset", str(dataset), "--answer", str(answer),
               "--work", str(work)]
    result = run_step(command, env, logs / f"{kind}.log")
    result.update(json.loads(answer.read_text()))
    result["core_seconds"] = result["vocabulary_seconds" if kind == "vocabulary" else "epoch_seconds"]
    return result


def checkpoint_and_resume(dataset: Path, work: Path, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """train_accelerate.py: 2 steps, a checkpoint at step 2; then --resume to step 3."""
    common = [sys.executable, str(TRAIN), "--dataset", str(dataset), "--output-dir", str(work / "run"),
              "--model-preset", "resnet1d_small", "--model-config", *MODEL_CONFIG, "--batch-size", "16",
              "--validation-split", "none", "--save-steps", "2", "--logging-steps", "1", "--log-with", "none",
              "--mixed-precision", "no", "--min-label-count", "1"]
    first = run_step([*common, "--max-steps", "2"], env, logs / "train.log")
    checkpoint = max((work / "run" / "checkpoints").glob("*"), key=lambda path: path.stat().st_mtime)
    resumed = run_step([*common, "--max-steps", "3", "--resume"], env, logs / "train-resume.log")
    return {"seconds": first["seconds"], "main_rss_mb": first["main_rss_mb"], "main_anon_mb": first["main_anon_mb"],
            "child_anon_mb": 0.0, "resume_seconds": resumed["seconds"],
            "resume_main_rss_mb": resumed["main_rss_mb"], "checkpoint_mb": folder_bytes(checkpoint) / 1e6,
            "load_before": first["load_before"], "load_after": resumed["load_after"]}


# ----------------------------------------------------------------------------------------------------------
# Children: the vocabulary and the loader's first epoch, with the training code's own functions
# ----------------------------------------------------------------------------------------------------------


def _training_options(dataset: Path, work: Path, workers: int) -> Any:
    from modeling_supreme.training import TrainingOptions

    return TrainingOptions(dataset=str(dataset), output_dir=str(work / "child-run"), validation_split=None,
                           model_config=list(MODEL_CONFIG), batch_size=32, num_workers=workers, log_with="none",
                           min_label_count=1)


def child_vocabulary(dataset: Path, work: Path) -> dict[str, Any]:
    from modeling_supreme.training.data import load_splits, resolve_vocabulary

    options = _training_options(dataset, work, 0)
    started = time.perf_counter()
    split = load_splits(str(dataset))["train"]
    loaded = time.perf_counter()
    vocabulary = resolve_vocabulary(options, split)
    return {"load_seconds": loaded - started, "vocabulary_seconds": time.perf_counter() - loaded,
            "labels": len(vocabulary), "rows": len(split)}


def child_loader(dataset: Path, work: Path) -> dict[str, Any]:
    from modeling_supreme.training.trainer import SupremeTrainer

    trainer = SupremeTrainer(_training_options(dataset, work, 1))
    started = time.perf_counter()
    trainer._prepare_data()  # the data half of `train()`: splits, vocabulary, target table, collator, DataLoader
    prepared = time.perf_counter()
    ecgs = 0
    for batch in trainer.train_loader:
        ecgs += len(batch["ecg_stored"] if "ecg_stored" in batch else batch["ecg_values"])
    seconds = time.perf_counter() - prepared
    targets = trainer.train_loader.dataset.targets
    return {"prepare_seconds": prepared - started, "epoch_seconds": seconds, "ecgs": ecgs, "ecg_per_s": ecgs / seconds,
            "target_table_bytes": int(targets.codes.nbytes) if targets is not None else 0,
            "labels": len(trainer.vocabulary)}


# ----------------------------------------------------------------------------------------------------------
# Text-only datasets (reports without signals) for the text steps at MIMIC's full count
# ----------------------------------------------------------------------------------------------------------


def write_text_dataset(folder: Path, reports: int, seed: int = 0) -> float:
    """A dataset folder of `reports` rows {id, report} (shards of 100,000, a card); -> distinct-report ratio."""
    import numpy as np
    import pyarrow as pa
    from datasets import Features, SplitInfo, Value

    from modeling_supreme.dataset_builders import DatasetDescription, shard_file_name, write_dataset_card
    from modeling_supreme.dataset_builders.mimic_iv_ecg import clean_report

    rng = np.random.default_rng(seed)
    texts = [clean_report(report_fragments(rng)) for _ in range(reports)]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, reports, 100_000)):
        table = pa.table({"id": [str(40000017 + 7 * row) for row in range(start, min(start + 100_000, reports))],
                          "report": texts[start : start + 100_000]})
        pq.write_table(table, folder / shard_file_name("train", index))
    features = Features({"id": Value("string"), "report": Value("string")})
    description = DatasetDescription(pretty_name="Synthetic MIMIC-IV-ECG reports", body="Reports only.")
    write_dataset_card(folder, description, features, [SplitInfo(name="train", num_bytes=0, num_examples=reports)])
    return len(set(texts)) / reports


# ----------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------


def environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_DATASETS_CACHE=str(work / "hf-datasets-cache"), TQDM_DISABLE="1", PYTHONPATH=str(REPO),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return env


def measure_records(records: int, work: Path, largest: bool, steps: set[str]) -> dict[str, Any]:
    """Every step at N = `records`, in `work` (emptied first)."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    env, logs = environment(work), work / "logs"
    started = time.perf_counter()
    tree = write_tree(work / "mimic-iv-ecg" / "1.0", records, bad=BadInput.per_thousand(records))
    result: dict[str, Any] = {
        "records": records, "tree_seconds": time.perf_counter() - started,
        "tree_mb": folder_bytes(tree.root) / 1e6, "distinct_report_ratio": tree.distinct_report_ratio,
        "planted": {kind: len(studies) for kind, studies in tree.planted.items()}, "short_reports": tree.short_reports,
    }
    print(f"N={records:,}: tree written in {result['tree_seconds']:.0f} s, {result['tree_mb']:,.0f} MB, distinct "
          f"reports {tree.distinct_reports:,} / {records:,} = {tree.distinct_report_ratio:.4f}", flush=True)
    built = work / "built-2"
    result["build_1"] = build(tree.root, work / "built-1", 1, env, logs)
    _report(records, "build, 1 process", result["build_1"])
    shutil.rmtree(work / "built-1")
    result["build_2"] = build(tree.root, built, 2, env, logs)
    _report(records, "build, 2 processes", result["build_2"])
    if largest and "resume" in steps:
        result["resume"] = killed_and_resumed(tree.root, work / "built-killed", built, env, logs)
        print(f"  resume after SIGKILL: {json.dumps(result['resume'])}", flush=True)
        shutil.rmtree(work / "built-killed")
    shutil.rmtree(tree.root.parent)  # the signals are in the built dataset now
    entities = work / "entities"
    result["extract"] = extract(built, entities, env, logs, "extract")
    _report(records, "extract_entities (lexicon)", result["extract"])
    shutil.rmtree(built)
    result["vocabulary"] = child_step("vocabulary", entities, work, env, logs)
    _report(records, "vocabulary", result["vocabulary"])
    result["loader"] = child_step("loader", entities, work, env, logs)
    _report(records, "loader first epoch", result["loader"])
    if "checkpoint" in steps:
        result["checkpoint"] = checkpoint_and_resume(entities, work, env, logs)
        _report(records, "train 2 steps + checkpoint, --resume", result["checkpoint"])
    return result


def measure_text(reports: int, work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    env, logs = environment(work), work / "logs"
    ratio = write_text_dataset(work / "reports", reports)
    result: dict[str, Any] = {"reports": reports, "distinct_report_ratio": ratio}
    result["extract"] = extract(work / "reports", work / "entities", env, logs, "extract-text")
    _report(reports, "text-only extract_entities (lexicon)", result["extract"])
    result["vocabulary"] = child_step("vocabulary", work / "entities", work, env, logs)
    _report(reports, "text-only vocabulary", result["vocabulary"])
    return result


def _report(count: int, step: str, result: dict[str, Any]) -> None:
    shown = {key: (round(value, 3) if isinstance(value, float) else value) for key, value in result.items()
             if key != "returncode"}
    print(f"  N={count:,} {step}: {json.dumps(shown)}", flush=True)


def slopes(results: list[dict[str, Any]], count_key: str) -> list[str]:
    """Per step: time(largest)/time(smallest)/(largest/smallest) of the whole command and of its core (the loop over
    the records, without start-up), peak RSS ratio of the main process and of a child."""
    if len(results) < 2:
        return []
    small, large = results[0], results[-1]
    factor = large[count_key] / small[count_key]
    lines = [f"slopes {count_key} {small[count_key]:,} -> {large[count_key]:,} (x{factor:g}): "
             "time ratio / count ratio (1.00 = linear) of the command and of its core, "
             "anonymous RSS ratio main / child"]
    for step, value in large.items():
        if isinstance(value, dict) and "seconds" in value and step in small:
            first = small[step]
            rss = value["main_anon_mb"] / first["main_anon_mb"]
            child = value["child_anon_mb"] / first["child_anon_mb"] if first.get("child_anon_mb") else float("nan")
            core = value.get("core_seconds", value["seconds"]) / first.get("core_seconds", first["seconds"]) / factor
            lines.append(f"  {step}: {value['seconds'] / first['seconds'] / factor:.2f}, core {core:.2f}, "
                         f"RSS {rss:.2f} / {child:.2f}")
    return lines


STEP_NAMES = {"build_1": "build, 1 process", "build_2": "build, 2 processes", "extract": "extract_entities (lexicon)",
              "vocabulary": "vocabulary (resolve_vocabulary)", "loader": "loader first epoch (1 worker)",
              "checkpoint": "train 2 steps + 1 checkpoint"}


def markdown_table(results: list[dict[str, Any]], count_key: str) -> list[str]:
    """One row per step and N: command seconds, core seconds (its loop over the records), CPU seconds, per-record
    core ms, anonymous RSS of the main process / a child; slopes against the smallest N."""
    lines = [f"| step | {count_key} | command s | core s | CPU s | core ms per record | core slope | "
             "main anon RSS MB | child anon RSS MB | RSS ratio main / child | load |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    first = results[0] if results else {}
    for step, name in STEP_NAMES.items():
        for result in results:
            value = result.get(step)
            if not isinstance(value, dict):
                continue
            base = first.get(step, value)
            core = value.get("core_seconds", value["seconds"])
            factor = result[count_key] / first[count_key]
            slope = core / base.get("core_seconds", base["seconds"]) / factor if factor != 1 else 1.0
            child = value.get("child_anon_mb", 0.0)
            child_ratio = f"{child / base['child_anon_mb']:.2f}" if base.get("child_anon_mb") else "-"
            cpu = f"{value['cpu_seconds']:.1f}" if "cpu_seconds" in value else "-"
            lines.append(
                f"| {name} | {result[count_key]:,} | {value['seconds']:.1f} | {core:.1f} | {cpu} | "
                f"{1000 * core / result[count_key]:.2f} | {slope:.2f} | {value['main_anon_mb']:.0f} | {child:.0f} | "
                f"{value['main_anon_mb'] / base['main_anon_mb']:.2f} / {child_ratio} | "
                f"{value['load_before']:.1f}-{value['load_after']:.1f} |"
            )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="*", default=[1000], help="N: records of each synthetic tree")
    parser.add_argument("--text-reports", type=int, nargs="*", default=[], help="reports of the text-only runs")
    parser.add_argument("--steps", nargs="*", default=["resume", "checkpoint"], choices=["resume", "checkpoint"],
                        help="optional steps (default both)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--table", type=Path, help="print the Markdown tables of a --json file written earlier")
    parser.add_argument("--child", choices=["vocabulary", "loader"], help=argparse.SUPPRESS)
    parser.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--answer", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        import torch

        torch.set_num_threads(1)
        answer = (child_vocabulary if args.child == "vocabulary" else child_loader)(args.dataset, args.work)
        args.answer.write_text(json.dumps(answer))
        return
    if args.table:
        stored = json.loads(args.table.read_text())
        for results, key in ((stored["records"], "records"), (stored["text"], "reports")):
            if results:
                print("\n".join(markdown_table(results, key)) + "\n")
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="supreme-scale-"))
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()} ({os.cpu_count()} cores)")
    results: dict[str, Any] = {"records": [], "text": []}
    try:
        for records in sorted(args.records):
            largest = records == max(args.records)
            results["records"].append(measure_records(records, work / f"n{records}", largest, set(args.steps)))
            if not args.keep:
                shutil.rmtree(work / f"n{records}", ignore_errors=True)
        for reports in sorted(args.text_reports):
            results["text"].append(measure_text(reports, work / f"text{reports}"))
            if not args.keep:
                shutil.rmtree(work / f"text{reports}", ignore_errors=True)
    finally:
        if args.json:
            args.json.write_text(json.dumps(results, indent=1) + "\n")
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    for line in slopes(results["records"], "records") + slopes(results["text"], "reports"):
        print(line)
    for group, key in ((results["records"], "records"), (results["text"], "reports")):
        if group:
            print("\n".join(markdown_table(group, key)))
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
