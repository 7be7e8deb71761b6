"""`scripts/pretrain_ptbxl.sh OUT ROOT [ROOT ...]`: two PTB-XL roots built into one dataset, entities extracted, a
few training steps with configs/ptbxl.yaml, a loadable OUT/model with its card; run again, it resumes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modeling_supreme.evaluation import load_model_and_processor
from tests.dataset_builders_helpers import copy_ptbxl_subset
from tests.sample_data import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "pretrain_ptbxl.sh"


def test_the_recipe_config_names_what_the_script_needs():
    config = yaml.safe_load((REPO_ROOT / "configs" / "ptbxl.yaml").read_text())
    assert config["model"]["sampling_rate"] == 100 and config["max_steps"] > 0 and config["save_steps"] > 0
    assert config["select_best"] is False  # folds 9-10 are the evaluation: the weights are the last step's
    script = SCRIPT.read_text()
    for stage in ("datasets_scripts/build_ptbxl.py", "datasets_scripts/extract_entities.py",
                  "train_accelerate.py --config configs/ptbxl.yaml", "--resume"):
        assert stage in script


def test_the_script_refuses_too_few_arguments():
    done = subprocess.run(["bash", str(SCRIPT), "out-only"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 2 and "usage:" in done.stderr


@pytest.mark.slow
def test_the_script_builds_trains_and_resumes_on_two_tiny_roots(tmp_path):
    first = copy_ptbxl_subset(tmp_path / "a", list(range(1, 21)), rate=100)
    second = copy_ptbxl_subset(tmp_path / "b", list(range(21, 41)), rate=100)
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "SUPREME_CPU_THREADS": "1"}
    flags = ["--", "--max-steps", "2", "--batch-size", "4", "--min-label-count", "1", "--save-steps", "1",
             "--validation-split", "none", "--logging-steps", "1"]
    done = subprocess.run(["bash", str(SCRIPT), str(out), str(first), str(second), *flags],
                          capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[ptbxl] 1/3" in done.stdout and "[ptbxl] finished" in done.stdout
    model, processor = load_model_and_processor(out / "model")
    assert model.config.sampling_rate == 100 and (out / "model" / "README.md").is_file()
    # Run again with two more steps: the build and the entities are kept, training resumes from its checkpoint.
    flags[2] = "4"
    again = subprocess.run(["bash", str(SCRIPT), str(out), str(first), str(second), *flags],
                           capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from the newest checkpoint" in again.stdout and "kept" in again.stdout
    assert "Resumed from" in again.stderr
