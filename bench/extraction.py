"""Entity extraction cost on the shared PTB-XL sample (data/ptbxl-sample, 400 reports).

Lexicon rows (reports per second, best of --repeats, measured side by side in this run):
  normalise only (reference) : `Lexicon.normalise` of every report: reading the text, no matching
  extract, one by one        : `LexiconExtractor.extract` on every report
  extract_batch (dedupe)     : `LexiconExtractor.extract_batch`: each distinct text once
LLM rows (model calls per report; the model is an in-process stand-in that answers the lexicon's entities as
JSON, so the counts are those of a real endpoint without its latency):
  no dedupe, no cache        : one call per report (a plain loop over the reports)
  dedupe, empty cache        : `LLMExtractor.extract_batch`, first run
  dedupe, same cache again   : second run over the same reports: must be 0

    python bench/extraction.py [--ptbxl data/ptbxl-sample] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from modeling_supreme.entities import ANSWER_JSON_SCHEMA, LexiconExtractor, LLMExtractor, entities_to_dicts

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def best_rate(function, items: int, repeats: int) -> float:
    """Items per second of the fastest of `repeats` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return items / best


def lexicon_rows(reports: list[str], repeats: int) -> None:
    extractor = LexiconExtractor()
    lexicon = extractor.lexicon
    normalise = best_rate(lambda: [lexicon.normalise(report) for report in reports], len(reports), repeats)
    single = best_rate(lambda: [extractor.extract(report) for report in reports], len(reports), repeats)
    batch = best_rate(lambda: extractor.extract_batch(reports), len(reports), repeats)
    print(f"Lexicon extractor, {len(reports)} reports ({len(set(reports))} distinct), best of {repeats}")
    print(f"  {'row':<30} {'reports/s':>10} {'vs reference':>13}")
    for name, rate in (("normalise only (reference)", normalise), ("extract, one by one", single), ("extract_batch (dedupe)", batch)):
        print(f"  {name:<30} {rate:>10.0f} {rate / normalise:>12.3f}x")


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
    parser.add_argument("--ptbxl", default=str(REPO_ROOT / "data" / "ptbxl-sample"), help="folder with ptbxl_database.csv")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per lexicon row (the best is kept)")
    args = parser.parse_args()
    reports = pd.read_csv(Path(args.ptbxl) / "ptbxl_database.csv")["report"].fillna("").astype(str).tolist()
    lexicon_rows(reports, args.repeats)
    llm_rows(reports)


if __name__ == "__main__":
    main()
