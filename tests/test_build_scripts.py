"""The parser the datasets_scripts/build_*.py scripts share, and that each script still parses its own flags."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modeling_supreme.dataset_builders.build_arguments import builder_parser, window_from_args
from modeling_supreme.dataset_builders.signals import SignalWindow
from tests.sample_data import REPO_ROOT


def test_builder_parser_has_root_window_and_build_options():
    parser = builder_parser("doc", "records folder", SignalWindow(seconds=10.0, crop_seconds=2.5, min_seconds=2.5))
    args = parser.parse_args(["--root", "r", "--out", "o", "--num-proc", "2"])
    assert (args.root, args.out, args.num_proc) == ("r", "o", 2)
    assert window_from_args(args) == SignalWindow(seconds=10.0, crop_seconds=2.5, min_seconds=2.5)
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "o"])  # --root is required


def test_builder_parser_without_a_window_has_no_window_options():
    parser = builder_parser("doc", "records folder")
    with pytest.raises(SystemExit):
        parser.parse_args(["--root", "r", "--out", "o", "--seconds", "5"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "own_flag"),
    [("build_ptbxl", "--sampling-rate"), ("build_mimic_iv_ecg", "--shard-size"), ("build_cpsc2018", "--merl-protocol"),
     ("build_csn", "--splits"), ("build_wfdb_folder", "--csv")],
)
def test_each_build_script_offers_the_shared_and_its_own_flags(script, own_flag):
    completed = subprocess.run([sys.executable, f"datasets_scripts/{script}.py", "--help"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    for flag in ("--root", "--out", "--push-to-hub", own_flag):
        assert flag in completed.stdout, (script, flag)
