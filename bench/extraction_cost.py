"""Entity extraction cost on the PTB-XL sample and extra reports (2,803 reports from a local copy).

Lexicon rows (reports per CPU second, best of --repeats, measured side by side in this run):
  normalise only (reference) : `Lexicon.normalise` of every report: reading the text, no matching
  extract, one by one        : `LexiconExtractor.extract` on every report
  extract_batch (dedupe)     : `LexiconExtractor.extract_batch`: each distinct text once
  extract_batch, lexicon REF : the same with the lexicon.yaml of git revision --reference-lexicon (default HEAD),
                               so a change to the lexicon is timed against the committed one in the same run
LLM rows (model calls per report; the model is an in-process stand-in that answers the lexicon's entities as
JSON, so the counts are those of a real endpoint without its latency):
  no dedupe, no cache        : one call per report (a plain loop over the reports)
  dedupe, empty cache        : `LLMExtractor.extract_batch`, first run
  dedupe, same cache again   : second run over the same reports: must be 0

    python bench/extraction_cost.py [--ptbxl FOLDER ...] [--repeats 5] [--reference-lexicon REV]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from modeling_supreme.data_sources import ptbxl_report_folders
from modeling_supreme.entities import ANSWER_JSON_SCHEMA, Lexicon, LexiconExtractor, LLMExtractor, entities_to_dicts

REPO_ROOT = Path(__file__).resolve().parents[1]
LEXICON_PATH = "modeling_supreme/entities/lexicon.yaml"


class LexiconStandInModel:
    """A chat "model" that answers with the lexicon's entities; counts its calls."""

    model_id = "lexicon-stand-in"
    max_workers = 4

    def __init__(self) -> None:
        self.extractor = LexiconExtractor()
        self.calls = 0

    def complete(self, messages, schema) -> str:
        self.calls += 1
        report = messages[-1]["content"].split("\n", 1)[1]
        return json.dumps({"entities": entities_to_dicts(self.extractor.extract(report))})


def best_rates(functions: dict[str, Callable[[], object]], items: int, repeats: int) -> dict[str, float]:
    """Items per second of the fastest of `repeats` runs of each function.

    The functions take turns within every repeat, in an order rotated from repeat to repeat, so a slow spell of a
    shared machine hits all rows alike; the garbage collector is run before and kept off during each timed run,
    so one row's garbage is not collected on the next row's time. Time is this process's CPU time: on a machine
    shared with other jobs wall time mostly measures their load (every row is a single-threaded Python loop).
    """
    best = dict.fromkeys(functions, float("inf"))
    names = list(functions)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                functions[name]()
                best[name] = min(best[name], time.process_time() - start)
            finally:
                gc.enable()
    return {name: items / seconds for name, seconds in best.items()}


def lexicon_at_revision(revision: str, folder: Path) -> Lexicon:
    """The lexicon.yaml of a git revision of this repository, loaded with the current code."""
    try:
        text = subprocess.run(["git", "-C", str(REPO_ROOT), "show", f"{revision}:{LEXICON_PATH}"],
                              check=True, capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"--reference-lexicon {revision!r}: git show failed: {error.stderr.strip()}") from None
    path = folder / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return Lexicon.load(path)


def lexicon_rows(reports: list[str], repeats: int, reference_revision: str) -> None:
    extractor = LexiconExtractor()
    lexicon = extractor.lexicon
    with tempfile.TemporaryDirectory() as folder:
        committed = LexiconExtractor(lexicon_at_revision(reference_revision, Path(folder)))
    reference_name = f"extract_batch, lexicon {reference_revision}"
    rates = best_rates(
        {
            "normalise only (reference)": lambda: [lexicon.normalise(report) for report in reports],
            "extract, one by one": lambda: [extractor.extract(report) for report in reports],
            "extract_batch (dedupe)": lambda: extractor.extract_batch(reports),
            reference_name: lambda: committed.extract_batch(reports),
        },
        len(reports),
        repeats,
    )
    normalise = rates["normalise only (reference)"]
    print(f"Lexicon extractor, {len(reports)} reports ({len(set(reports))} distinct), best of {repeats}")
    print(f"  {'row':<36} {'reports/s':>10} {'vs reference':>13}")
    for name, rate in rates.items():
        print(f"  {name:<36} {rate:>10.0f} {rate / normalise:>12.3f}x")
    ratio = rates["extract_batch (dedupe)"] / rates[reference_name]
    print(f"  extract_batch, this lexicon / lexicon {reference_revision}: {ratio:.3f}x")


def llm_rows(reports: list[str]) -> None:
    naive_model = LexiconStandInModel()
    for report in reports:
        naive_model.complete([{"role": "user", "content": f"ECG report:\n{report}"}], ANSWER_JSON_SCHEMA)
    rows = [("no dedupe, no cache", naive_model.calls)]
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "answers.sqlite"
        for name in ("dedupe, empty cache", "dedupe, same cache again"):
            model = LexiconStandInModel()
            extractor = LLMExtractor(model, cache=cache, progress=False)
            extractor.extract_batch(reports)
            assert model.calls == extractor.last_stats.model_calls
            rows.append((name, model.calls))
    print(f"LLM extractor, {len(reports)} reports ({len(set(reports))} distinct), model calls")
    print(f"  {'row':<30} {'calls':>6} {'calls/report':>13}")
    for name, calls in rows:
        print(f"  {name:<30} {calls:>6} {calls / len(reports):>13.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ptbxl", nargs="+",
                        help="folders with ptbxl_database.csv (default: the PTB-XL sample and the extra reports, "
                        "from SUPREME_DATA_DIR, the cache or a download)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per lexicon row (the best is kept)")
    parser.add_argument("--reference-lexicon", default="HEAD", metavar="REV",
                        help="git revision whose lexicon.yaml is timed side by side (default: HEAD)")
    args = parser.parse_args()
    args.ptbxl = args.ptbxl or ptbxl_report_folders()
    reports = [
        report
        for folder in args.ptbxl
        for report in pd.read_csv(Path(folder) / "ptbxl_database.csv")["report"].fillna("").astype(str).tolist()
    ]
    lexicon_rows(reports, args.repeats, args.reference_lexicon)
    llm_rows(reports)


if __name__ == "__main__":
    main()
