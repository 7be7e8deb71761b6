"""Run the ecg-zero-shot pipeline in a fresh interpreter that cannot import `modeling_supreme`, as a user who has
only a saved or pushed checkpoint would: everything must come from the checkpoint's own code (trust_remote_code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence, Union

_SCRIPT = """
import json, sys
sys.modules["modeling_supreme"] = None  # this interpreter cannot import the package
try:
    import modeling_supreme
    raise SystemExit("modeling_supreme should not be importable here")
except ImportError:
    pass
from transformers import pipeline
classifier = pipeline("ecg-zero-shot", model=sys.argv[1], trust_remote_code=True)
result = classifier(sys.argv[2], candidate_labels=json.loads(sys.argv[3]))
print("RESULT=" + json.dumps({item["label"]: item["score"] for item in result}))
print("CLASS=" + type(classifier.model).__module__)
"""


def offline_environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment with a private remote-code module cache and the Hub off."""
    return {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}


def scores_without_the_package(
    model: str,
    record: str,
    candidate_labels: Union[Sequence[str], Mapping[str, str]],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 300,
) -> tuple[dict[str, float], str]:
    """The pipeline's {label: score} for one record and the module the model class came from.

    Raises AssertionError with the end of the child's stderr when it fails.
    """
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, model, record, json.dumps(candidate_labels)],
        capture_output=True, text=True, cwd=cwd, env=dict(env), timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in completed.stdout.splitlines() if line.startswith(("RESULT=", "CLASS=")))
    return json.loads(lines["RESULT"]), lines["CLASS"]
