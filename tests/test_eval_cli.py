"""How the evaluation scripts end: the table and the files written, on stdout, and exit status 0."""

from __future__ import annotations

from pathlib import Path

from modeling_supreme.evaluation.benchmark_arguments import print_written


def test_print_written_shows_the_table_and_every_file(capsys, tmp_path):
    paths = {"json": tmp_path / "results.json", "markdown": tmp_path / "results.md"}
    assert print_written("| Task | AUROC |", paths) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| Task | AUROC |"
    assert out[1] == f"Wrote {Path(paths['json'])}, {Path(paths['markdown'])}"
