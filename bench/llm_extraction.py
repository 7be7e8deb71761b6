r"""Entity extraction against a real LLM server, beside the lexicon, on held-apart PTB-XL reports.

    python bench/llm_extraction.py --gguf /work/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
        [--server-python /path/to/venv/bin/python] [--threads 1] [--workers 2] [--reports 150] [--out outputs/llm-bench]
    python bench/llm_extraction.py --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct ...

What it does, in order (every phase drives the project's own command, `eval/extraction.py --extractor llm`, in a
subprocess, through a counting proxy that sees every request the command sends to the server):

1. Selection (a rule, stated in `select_reports`): the held-apart rows, fold 8 of `--dev` (default: ptbxl-more
   from $SUPREME_DATA_DIR) and folds 9-10 of `--test` (default: ptbxl-sample, by the data resolver); in each
   of the two splits half of `--reports`, spread over the report languages (the lexicon's `report_language`,
   "unknown" included) as evenly as the rows allow, and within a language the rows in order of sha256(ecg_id).
2. Run: the command over the selection, answers into an SQLite cache. Printed: reports/s (LLM and lexicon on
   the same reports), JSON validity of the first answer and after retries, every failure.
3. Scores: micro/macro F1 against the cardiologists' codes per split and report language, for the lexicon, the
   LLM's names as given, the LLM's names mapped onto the lexicon's (`EntityMapper`), and the hybrid modes; the
   hybrid is chosen on fold 8 and compared with the lexicon on folds 9-10. Names that do not map are listed.
4. Cache: the same command again: it must send 0 requests.
5. Kill and resume (`--kill-reports N`, 0 to skip): the command over the first N selected reports with a fresh
   cache, killed with SIGKILL once half of them are stored, then run again: no report lost, none sent in both
   runs except those in flight at the kill.

The server: with `--gguf`, `llama_cpp.server` on 127.0.0.1 (one thread by default) started by
`modeling_supreme.entities.llama_server` with the interpreter `--server-python` (one with
`llama-cpp-python[server]`), stopped at the end. llama-cpp-python constrains answers with a JSON grammar
(`--response-format json_object`, the default here); it refuses the `json_schema` type (HTTP 500).
Timings are wall-clock on whatever else the machine runs: note the load (printed) beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Sequence

from modeling_supreme.data_sources import resolve
from modeling_supreme.entities import DEFAULT_PROMPT, AnswerCache, Entity, Lexicon, LexiconExtractor, cache_key
from modeling_supreme.entities.evaluation import (
    UNKNOWN_LANGUAGE,
    entities_to_scp_codes,
    report_language,
    score_extraction,
)
from modeling_supreme.entities.gold_reports import GoldReports, parse_folds, read_ptbxl_reports
from modeling_supreme.entities.lexicon_entries import LANGUAGES
from modeling_supreme.entities.llama_server import LLAMA_CPP_MODEL_ALIAS, llama_cpp_server, stop_process_group
from modeling_supreme.entities.llm_mapping import HYBRID_MODES, EntityMapper, hybrid_entities
from modeling_supreme.entities.schema import EntityValidationError, validate_answer

REPO_ROOT = Path(__file__).resolve().parents[1]
EXTRACTION_COMMAND = REPO_ROOT / "eval" / "extraction.py"
DATABASE_COLUMNS = ["ecg_id", "report", "scp_codes", "strat_fold"]


# ------------------------------------------------------------------------------------------------ selection
def sha_order(ecg_id: int) -> str:
    return hashlib.sha256(str(ecg_id).encode()).hexdigest()


def select_reports(ecg_ids: Sequence[int], languages: Sequence[str], count: int) -> list[int]:
    """Indices of `count` rows spread over languages as evenly as the rows allow (the rule, fixed in advance).

    Languages are filled from the rarest up: each gets min(its rows, what is left / languages left), so a rare
    language gives all it has and the others share the rest equally. Within a language, rows are taken in order
    of sha256(ecg_id) (a fixed pseudo-random order nobody chose). Returned in ecg_id order.
    """
    by_language: dict[str, list[int]] = {}
    for index, language in enumerate(languages):
        by_language.setdefault(language, []).append(index)
    chosen: list[int] = []
    left = count
    ordered = sorted(by_language, key=lambda language: (len(by_language[language]), language))
    for position, language in enumerate(ordered):
        share = min(len(by_language[language]), left // (len(ordered) - position))
        rows = sorted(by_language[language], key=lambda index: sha_order(ecg_ids[index]))[:share]
        chosen.extend(rows)
        left -= share
    return sorted(chosen, key=lambda index: ecg_ids[index])


def write_database(folder: Path, sources: Sequence[Path], ecg_ids: set[int]) -> Path:
    """A `ptbxl_database.csv` with the given rows of the source databases (their own columns, in file order)."""
    import pandas as pd

    frames = [pd.read_csv(source / "ptbxl_database.csv") for source in sources]
    table = pd.concat([frame[DATABASE_COLUMNS] for frame in frames], ignore_index=True)
    table = table[table["ecg_id"].isin(ecg_ids)].drop_duplicates("ecg_id")
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "ptbxl_database.csv", index=False)
    return folder


# ---------------------------------------------------------------------------------------------------- proxy
class CountingProxy:
    """An HTTP proxy on 127.0.0.1 in front of the model server that records every chat request it forwards:
    (phase, report, first attempt or retry, start, end, answer valid against the entity schema)."""

    def __init__(self, upstream: str) -> None:
        import httpx

        self.upstream = upstream.rstrip("/")
        self.phase = "idle"
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._client = httpx.Client(timeout=httpx.Timeout(3600.0))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                response = proxy._client.get(proxy.upstream + self.path.removeprefix("/v1"))
                self._reply(response.status_code, response.content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                record = proxy._start(json.loads(body))
                try:
                    response = proxy._client.post(
                        proxy.upstream + self.path.removeprefix("/v1"), content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    status, content = response.status_code, response.content
                except Exception as error:  # the upstream is down: tell the client like a gateway would
                    status, content = 502, json.dumps({"error": repr(error)}).encode()
                proxy._finish(record, status, content)
                self._reply(status, content)

            def _reply(self, status: int, content: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while the model answered

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _start(self, payload: dict[str, Any]) -> dict[str, Any]:
        messages = payload.get("messages", [])
        user = next((message["content"] for message in messages if message.get("role") == "user"), "")
        record = {
            "phase": self.phase, "report": user.split("\n", 1)[1] if "\n" in user else user,
            "retry": len(messages) > 2, "start": time.monotonic(), "end": None, "status": None, "valid": None,
        }
        with self.lock:
            self.requests.append(record)
        return record

    def _finish(self, record: dict[str, Any], status: int, content: bytes) -> None:
        valid = False
        try:
            validate_answer(json.loads(content)["choices"][0]["message"]["content"])
            valid = True
        except (EntityValidationError, ValueError, KeyError, IndexError, TypeError):
            pass
        with self.lock:
            record.update(end=time.monotonic(), status=status, valid=valid)

    def of_phase(self, phase: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(record) for record in self.requests if record["phase"] == phase]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._client.close()


# -------------------------------------------------------------------------------------------------- running
def extraction_command(
    args: argparse.Namespace, base_url: str, database: Path, cache: Path, json_out: Path
) -> list[str]:
    """The project's extraction command (eval/extraction.py with the LLM extractor) over one selection."""
    return [
        sys.executable, str(EXTRACTION_COMMAND), "--ptbxl", str(database), "--extractor", "llm", "--backend", "openai",
        "--base-url", base_url, "--model", args.model, "--workers", str(args.workers), "--timeout", str(args.timeout),
        "--max-retries", "2", "--max-attempts", str(args.max_attempts), "--response-format", args.response_format,
        "--max-new-tokens", str(args.max_new_tokens), "--cache", str(cache), "--json", str(json_out),
    ]


def run_command(command: list[str], log: Path) -> tuple[int, float]:
    """Run to the end; (exit status, wall seconds). Output appended to `log`."""
    start = time.monotonic()
    with log.open("ab") as handle:
        status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT).returncode
    return status, time.monotonic() - start


def stored_keys(cache: Path) -> set[str]:
    """Keys in an answer cache, read by a separate connection (the writer may be running)."""
    if not cache.exists():
        return set()
    with sqlite3.connect(cache, timeout=30) as connection:
        try:
            return {row[0] for row in connection.execute("SELECT key FROM answers")}
        except sqlite3.OperationalError:  # the file exists, its table not yet
            return set()


def load_answers(cache: Path, reports: Sequence[str], model: str) -> dict[str, Any]:
    """The cached answer of each distinct non-empty report (absent: never answered)."""
    store = AnswerCache(cache)
    try:
        keys = {report: cache_key(report, DEFAULT_PROMPT.version, model) for report in set(reports) if report.strip()}
        found = store.get_many(keys.values())
        return {report: found[key] for report, key in keys.items() if key in found}
    finally:
        store.close()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"


# -------------------------------------------------------------------------------------------------- scoring
def code_sets(entities: Sequence[Sequence[Entity]], languages: Sequence[str], lexicon: Lexicon) -> list[set[str]]:
    return [entities_to_scp_codes(found, lexicon, language=language) for found, language in zip(entities, languages)]


def score_table(
    variants: dict[str, list[list[Entity]]], rows: GoldReports, languages: Sequence[str], splits: Sequence[str],
    lexicon: Lexicon,
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """variant -> split -> language ("all" too) -> {micro_f1, macro_f1, reports}."""
    table: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for variant, entities in variants.items():
        predicted = code_sets(entities, languages, lexicon)
        table[variant] = {}
        for split in sorted(set(splits)):
            table[variant][split] = {}
            for language in ["all", *sorted(set(languages))]:
                members = [
                    index for index, (row_split, row_language) in enumerate(zip(splits, languages))
                    if row_split == split and language in ("all", row_language)
                ]
                if not members:
                    continue
                scores = score_extraction([predicted[i] for i in members], [rows.gold[i] for i in members])
                table[variant][split][language] = {
                    "micro_f1": scores.micro_f1, "macro_f1": scores.macro_f1, "reports": len(members),
                }
    return table


def print_score_table(table: dict[str, Any], split: str, title: str) -> None:
    languages = list(next(iter(table.values()))[split])
    counts = {language: next(iter(table.values()))[split][language]["reports"] for language in languages}
    print(f"\n{title}: micro F1 / macro F1 against the cardiologists' scp_codes")
    print(f"  {'extractor':<24}" + "".join(f" {f'{language} (n={counts[language]})':>17}" for language in languages))
    for variant, splits in table.items():
        cells = "".join(
            f" {splits[split][language]['micro_f1']:>8.3f}/{splits[split][language]['macro_f1']:<8.3f}"
            for language in languages
        )
        print(f"  {variant:<24}{cells}")


# ----------------------------------------------------------------------------------------------------- phases
def phase_run(args, proxy, database, cache, out, rows, label: str) -> dict[str, Any]:
    proxy.phase = label
    status, seconds = run_command(
        extraction_command(args, proxy.base_url, database, cache, out / f"{label}.json"), out / f"{label}.log"
    )
    if status != 0:
        raise SystemExit(f"{label}: the extraction command failed with status {status}; see {out / f'{label}.log'}")
    requests = proxy.of_phase(label)
    return {"seconds": seconds, "requests": requests, "distinct_requested": len({r["report"] for r in requests})}


def report_run(run: dict[str, Any], rows: GoldReports, answers: dict[str, Any], lexicon_rate: float) -> dict[str, Any]:
    """Throughput, JSON validity and failures of the first run (validity from the cache, which covers resumes)."""
    requests = run["requests"]
    distinct = [report for report in dict.fromkeys(rows.reports) if report.strip()]
    answered = [answers[report] for report in distinct if report in answers]
    transport_failures = [report for report in distinct if report not in answers]
    first_valid = sum(1 for answer in answered if answer.ok and answer.attempts == 1)
    valid = sum(1 for answer in answered if answer.ok)
    span = (max(r["end"] for r in requests) - min(r["start"] for r in requests)) if requests else 0.0
    sent = len({r["report"] for r in requests})
    summary = {
        "reports": len(rows.reports), "distinct_non_empty": len(distinct), "requests": len(requests),
        "distinct_requested": sent, "request_span_s": span, "command_wall_s": run["seconds"],
        "llm_reports_per_s": sent / span if span else None, "lexicon_reports_per_s": lexicon_rate,
        "first_answer_valid": first_valid, "valid_after_retries": valid, "cached_answers": len(answered),
        "recorded_failures": [
            {"report": answer.report, "error": answer.error, "raw_answer": (answer.raw_answer or "")[:300]}
            for answer in answered if not answer.ok
        ],
        "transport_failures": transport_failures,
        "responses_valid": sum(1 for r in requests if r["valid"]), "responses": len(requests),
    }
    print(f"\nRun over {len(rows.reports)} reports ({len(distinct)} distinct non-empty): {len(requests)} requests "
          f"for {sent} reports in {span:.0f} s at the proxy (command wall time {run['seconds']:.0f} s)")
    if span:
        print(f"  LLM      : {sent / span:.4f} reports/s ({span / sent:.1f} s a report)")
    print(f"  lexicon  : {lexicon_rate:.0f} reports/s (same reports, this process, best of 3)")
    total = len(distinct)
    print(f"  JSON valid at the first answer : {first_valid}/{total} = {first_valid / total:.1%}" if total else "")
    print(f"  JSON valid after retries       : {valid}/{total} = {valid / total:.1%}" if total else "")
    print(f"  responses valid (every attempt, this run): {summary['responses_valid']}/{len(requests)}")
    print(f"  recorded failures (cached, with the raw answer): {len(summary['recorded_failures'])}; "
          f"transport failures (not cached, retried next run): {len(transport_failures)}")
    for failure in summary["recorded_failures"]:
        print(f"    - {failure['report'][:70]!r}: {failure['error'][:120]}")
    for report in transport_failures:
        print(f"    - not answered: {report[:70]!r}")
    return summary


def phase_kill_resume(args, proxy, rows: GoldReports, out: Path) -> dict[str, Any]:
    """Kill the command with SIGKILL once half the subset is stored, run it again; count requests per report."""
    subset_ids = set(rows.ecg_ids[: args.kill_reports])
    database = write_database(out / "kill-selection", [Path(args.dev), Path(args.test)], subset_ids)
    cache = out / "kill-cache.sqlite"
    for stale in out.glob("kill-cache.sqlite*"):
        stale.unlink()
    subset = [report for ecg_id, report in zip(rows.ecg_ids, rows.reports) if ecg_id in subset_ids]
    distinct = [report for report in dict.fromkeys(subset) if report.strip()]
    keys = {cache_key(report, DEFAULT_PROMPT.version, args.model): report for report in distinct}
    half = len(distinct) // 2
    proxy.phase = "killed"
    command = extraction_command(args, proxy.base_url, database, cache, out / "killed.json")
    with (out / "killed.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                   start_new_session=True)
        try:
            while len(stored_keys(cache) & set(keys)) < half and process.poll() is None:
                time.sleep(0.2)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        finally:
            stop_process_group(process)
    stored_at_kill = {keys[key] for key in stored_keys(cache) & set(keys)}
    first = proxy.of_phase("killed")
    in_flight = {r["report"] for r in first} - stored_at_kill
    resumed = phase_run(args, proxy, database, cache, out, rows, "resumed")
    second = resumed["requests"]
    sent_first, sent_second = {r["report"] for r in first}, {r["report"] for r in second}
    stored_after = {keys[key] for key in stored_keys(cache) & set(keys)}
    summary = {
        "reports": len(distinct), "stored_at_kill": len(stored_at_kill), "requested_before_kill": len(sent_first),
        "in_flight_at_kill": len(in_flight), "requested_after_resume": len(sent_second),
        "sent_in_both_runs": len(sent_first & sent_second),
        "sent_in_both_runs_all_in_flight": (sent_first & sent_second) <= in_flight,
        "resumed_asked_only_missing": sent_second <= set(distinct) - stored_at_kill,
        "stored_after_resume": len(stored_after), "lost": len(set(distinct) - stored_after),
    }
    print(f"\nKill and resume over the first {args.kill_reports} selected reports ({len(distinct)} distinct), "
          "fresh cache:")
    print(f"  killed (SIGKILL) with {len(stored_at_kill)} answers stored; {len(sent_first)} reports requested, "
          f"{len(in_flight)} of them in flight (sent, not stored)")
    print(f"  resumed: {len(sent_second)} reports requested; sent in both runs: {len(sent_first & sent_second)} "
          f"(all of them in flight at the kill: {summary['sent_in_both_runs_all_in_flight']}); "
          f"resumed asked only for unstored reports: {summary['resumed_asked_only_missing']}")
    print(f"  stored after the resume: {len(stored_after)}/{len(distinct)}; lost: {summary['lost']}")
    return summary


# ----------------------------------------------------------------------------------------------------- main
def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    server = parser.add_mutually_exclusive_group(required=True)
    server.add_argument("--gguf", help="GGUF model file served by llama_cpp.server for the run")
    server.add_argument("--base-url", help="an OpenAI-compatible API root that is already serving")
    parser.add_argument("--model", default=None, help=f"model name at the endpoint (default with --gguf: "
                                                      f"{LLAMA_CPP_MODEL_ALIAS}-<file stem>)")
    parser.add_argument("--server-python", default=sys.executable,
                        help="interpreter with llama-cpp-python[server] (default: this one)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (default 1)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="llama.cpp context length")
    parser.add_argument("--dev", default=None,
                        help="PTB-XL folder of the choosing split (default: ptbxl-more, found by the data resolver "
                             "in $SUPREME_DATA_DIR)")
    parser.add_argument("--dev-folds", type=parse_folds, default={8})
    parser.add_argument("--test", default=None,
                        help="PTB-XL folder of the held-out split (default: ptbxl-sample, found by the resolver)")
    parser.add_argument("--test-folds", type=parse_folds, default={9, 10})
    parser.add_argument("--reports", type=int, default=150, help="reports selected, half per split")
    parser.add_argument("--workers", type=int, default=2, help="concurrent requests of the command")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per request (queueing included)")
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--response-format", choices=("json_schema", "json_object", "none"), default="json_object")
    parser.add_argument("--kill-reports", type=int, default=16, help="reports of the kill/resume run (0: skip it)")
    parser.add_argument("--skip-main", action="store_true", help="only the kill/resume run (e.g. a smaller model)")
    parser.add_argument("--score-only", action="store_true",
                        help="no server: score the selected reports the cache of --out has answers for")
    parser.add_argument("--fresh", action="store_true", help="empty the run's cache first (default: resume it)")
    parser.add_argument("--out", default=str(REPO_ROOT / "outputs" / "llm-bench"), help="work folder")
    args = parser.parse_args()
    args.dev = args.dev or str(resolve("ptbxl-more", progress=False))
    args.test = args.test or str(resolve("ptbxl-sample", progress=False))
    if args.model is None:
        args.model = f"{LLAMA_CPP_MODEL_ALIAS}-{Path(args.gguf).stem}" if args.gguf else parser.error("--model needed")
    if args.score_only and args.kill_reports:
        args.kill_reports = 0
    return args


def held_apart_rows(args: argparse.Namespace, by_language: dict[str, LexiconExtractor]) -> tuple[GoldReports, list]:
    """The selected rows of both splits (in one GoldReports) and each row's split name."""
    selected = GoldReports()
    splits = []
    for name, folder, folds in (("fold 8", args.dev, args.dev_folds), ("folds 9-10", args.test, args.test_folds)):
        rows = read_ptbxl_reports([folder], folds)
        languages = [report_language(report, by_language) for report in rows.reports]
        for index in select_reports(rows.ecg_ids, languages, args.reports // 2):
            for column in ("ecg_ids", "sources", "reports", "gold", "folds"):
                getattr(selected, column).append(getattr(rows, column)[index])
            splits.append(name)
    return selected, splits


def main() -> None:
    args = parse_arguments()
    out = Path(args.out).resolve()  # the command runs from the repository root
    out.mkdir(parents=True, exist_ok=True)
    by_language = {language: LexiconExtractor(languages=(language,)) for language in LANGUAGES}
    rows, splits = held_apart_rows(args, by_language)
    languages = [report_language(report, by_language) for report in rows.reports]
    database = write_database(out / "selection", [Path(args.dev), Path(args.test)], set(rows.ecg_ids))
    print(f"Selection: {len(rows.reports)} reports ({len(set(rows.reports))} distinct), load average {load_average()}")
    for split in dict.fromkeys(splits):
        counts = Counter(language for name, language in zip(splits, languages) if name == split)
        print(f"  {split}: " + ", ".join(f"{language} {count}" for language, count in sorted(counts.items())))
    summary: dict[str, Any] = {"model": args.model, "selection": len(rows.reports), "load_start": load_average()}
    if args.score_only:
        return score_cached_only(args, rows, splits, languages, out)
    with ExitStack() as stack:
        if args.gguf:
            upstream = stack.enter_context(llama_cpp_server(
                args.gguf, model_alias=args.model, n_threads=args.threads, n_ctx=args.n_ctx,
                log_file=out / "server.log", python=args.server_python,
            ))
        else:
            upstream = stack.enter_context(nullcontext(args.base_url))
        proxy = CountingProxy(upstream)
        stack.callback(proxy.close)
        if not args.skip_main:
            summary.update(main_phases(args, proxy, database, rows, splits, languages, out))
        if args.kill_reports:
            summary["kill_resume"] = phase_kill_resume(args, proxy, rows, out)
    summary["load_end"] = load_average()
    print(f"\nLoad average at the end: {summary['load_end']}")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"Figures in {out / 'summary.json'}")


def score_cached_only(args, rows: GoldReports, splits: list, languages: list, out: Path) -> None:
    """Scores of the selected reports the cache has an answer for (an interrupted run), lexicon on the same ones."""
    answers = load_answers(out / "cache.sqlite", rows.reports, args.model)
    keep = [index for index, report in enumerate(rows.reports) if report in answers]
    print(f"--score-only: {len(keep)} of the {len(rows.reports)} selected reports have a cached answer of "
          f"{args.model}; every figure below is over those reports only")
    subset = GoldReports(**{column: [getattr(rows, column)[index] for index in keep]
                            for column in ("ecg_ids", "sources", "reports", "gold", "folds")})
    kept_answers = list(answers.values())
    print(f"  JSON valid at the first answer: {sum(a.ok and a.attempts == 1 for a in kept_answers)}/{len(answers)}; "
          f"after retries: {sum(a.ok for a in kept_answers)}/{len(answers)}")
    print_scores(subset, [splits[i] for i in keep], [languages[i] for i in keep], answers, LexiconExtractor(), out)


def main_phases(args, proxy, database, rows, splits, languages, out) -> dict[str, Any]:
    cache = out / "cache.sqlite"
    if args.fresh:
        for stale in out.glob("cache.sqlite*"):
            stale.unlink()
    before = len(stored_keys(cache))
    print(f"Answer cache {cache}: {before} answers stored before the run"
          + (" (resuming an earlier run: its requests are not counted here)" if before else ""))
    lexicon_extractor = LexiconExtractor()
    lexicon_rate = max(
        len(rows.reports) / timed(lambda: LexiconExtractor(lexicon_extractor.lexicon).extract_batch(rows.reports))
        for _ in range(3)
    )
    run = phase_run(args, proxy, database, cache, out, rows, "run")
    answers = load_answers(cache, rows.reports, args.model)
    summary = {"run": report_run(run, rows, answers, lexicon_rate)}
    summary["scores"] = print_scores(rows, splits, languages, answers, lexicon_extractor, out)
    again = phase_run(args, proxy, database, cache, out, rows, "cached")
    print(f"\nSecond run of the same command (answers from the cache): {len(again['requests'])} requests "
          f"in {again['seconds']:.1f} s")
    summary["cached_run_requests"] = len(again["requests"])
    return summary


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def print_scores(rows, splits, languages, answers, lexicon_extractor, out) -> dict[str, Any]:
    lexicon = lexicon_extractor.lexicon
    lexicon_entities = lexicon_extractor.extract_batch(rows.reports)
    raw = [list(answers[report].entities) if report in answers else [] for report in rows.reports]
    mapper = EntityMapper(lexicon)
    mapped = mapper.map_batch(raw)
    variants = {"lexicon": lexicon_entities, "LLM, names as given": raw, "LLM, mapped": mapped}
    for mode in HYBRID_MODES:
        variants[f"hybrid {mode}"] = [
            hybrid_entities(lex, llm, mode) for lex, llm in zip(lexicon_entities, mapped)
        ]
    table = score_table(variants, rows, languages, splits, lexicon)
    for split in dict.fromkeys(splits):
        print_score_table(table, split, f"Held-apart {split}")
    counts = mapper.counts.as_dict(limit=40)
    print(f"\nMapping of the LLM's names: {counts['mentions']} mentions, {counts['exact']} exact, "
          f"{counts['read_by_lexicon']} read by the lexicon, {counts['unmapped_mentions']} unmapped "
          f"({counts['unmapped_names']} names); most frequent unmapped:")
    for name, count in counts["unmapped"]:
        print(f"    {count:>3}  {name}")
    dev, test = "fold 8", "folds 9-10"
    result = {"table": table, "mapping": counts, "unknown_language": UNKNOWN_LANGUAGE}
    if not (dev in table["lexicon"] and test in table["lexicon"]):
        print(f"\nNo hybrid chosen: it is chosen on {dev} and judged on {test}, and one of them has no report here")
        return result
    best = max(HYBRID_MODES, key=lambda mode: table[f"hybrid {mode}"][dev]["all"]["micro_f1"])
    chosen, lexicon_test = table[f"hybrid {best}"][test]["all"], table["lexicon"][test]["all"]
    beats = chosen["micro_f1"] > lexicon_test["micro_f1"]
    print(f"\nHybrid chosen on {dev} (best micro F1): {best}; on {test}: micro F1 {chosen['micro_f1']:.3f} vs the "
          f"lexicon's {lexicon_test['micro_f1']:.3f}: {'beats' if beats else 'does not beat'} the lexicon")
    (out / "entities.jsonl").write_text("".join(
        json.dumps({"ecg_id": ecg_id, "split": split, "language": language, "report": report,
                    "gold": sorted(gold), "lexicon": [e.to_dict() for e in lex], "llm": [e.to_dict() for e in llm],
                    "llm_mapped": [e.to_dict() for e in mapped_]}, ensure_ascii=False) + "\n"
        for ecg_id, split, language, report, gold, lex, llm, mapped_ in zip(
            rows.ecg_ids, splits, languages, rows.reports, rows.gold, lexicon_entities, raw, mapped)
    ), encoding="utf-8")
    return {**result, "hybrid_chosen": best, "hybrid_beats_lexicon_on_test": beats}


if __name__ == "__main__":
    main()
