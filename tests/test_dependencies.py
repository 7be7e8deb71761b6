"""`pip install modeling-supreme` (no extra) is enough for `from_pretrained` and the pipeline.

The packages of the extras that the core install would not bring are made unimportable in a fresh interpreter
(`sys.modules[name] = None`: `import` fails and `importlib.util.find_spec` answers None, as for a package that is not
installed); the blocked set is read from the installed package's metadata, so it follows `setup.cfg`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from modeling_supreme import read_ecg
from tests.sample_data import ptbxl_record

DISTRIBUTION = "modeling-supreme"
EXTRAS = ("train", "eval", "llm")
LABELS = ["normal ecg", "atrial fibrillation"]

SCRIPT = """
import json, sys
for name in json.loads(sys.argv[1]):
    sys.modules[name] = None
import numpy as np
from transformers import pipeline
import modeling_supreme  # registers the task
classifier = pipeline("ecg-zero-shot", model=sys.argv[2])
ecg, rate = (np.load(sys.argv[3]), 100) if sys.argv[3].endswith(".npy") else (sys.argv[3], None)
result = classifier(ecg, candidate_labels=json.loads(sys.argv[4]), sampling_rate=rate)
print(json.dumps({item["label"]: item["score"] for item in result}))
"""


def _requirements(extra: str) -> list[str]:
    """The distributions `modeling-supreme` requires with `extra` ("" for the core install)."""
    names = []
    for text in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(text)
        if requirement.marker is None if not extra else requirement.marker is not None and requirement.marker.evaluate(
            {"extra": extra}
        ):
            names.append(requirement.name)
    return names


def _closure(names: list[str]) -> set[str]:
    """`names` and everything they require when installed without extras, as canonical distribution names."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen or name == DISTRIBUTION:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def _import_names(distributions: set[str]) -> list[str]:
    return sorted(
        module for module, owners in metadata.packages_distributions().items()
        if any(canonicalize_name(owner) in distributions for owner in owners)
    )


def _blocked(also_block: tuple[str, ...] = ()) -> list[str]:
    extras = _closure([name for extra in EXTRAS for name in _requirements(extra)])
    return _import_names((extras - _closure(_requirements(""))) | {canonicalize_name(name) for name in also_block})


def _scores_in_a_fresh_interpreter(checkpoint, ecg: str, blocked: list[str]) -> dict[str, float]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(blocked), str(checkpoint), ecg, json.dumps(LABELS)],
        capture_output=True, text=True, timeout=300, env=environment,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_extras_bring_packages_the_core_install_does_not():
    blocked = _blocked()
    for module in ("datasets", "accelerate", "peft", "evaluate", "sklearn", "httpx", "sentence_transformers"):
        assert module in blocked, module
    assert "torch" not in blocked and "transformers" not in blocked and "wfdb" not in blocked


@pytest.mark.parametrize(
    "input_kind", ["record path", pytest.param("array, without wfdb", marks=pytest.mark.slow)]
)
def test_the_pipeline_runs_with_only_the_core_install(tmp_path, tiny_checkpoint, input_kind):
    from transformers import pipeline

    path = ptbxl_record(1)
    classifier = pipeline("ecg-zero-shot", model=str(tiny_checkpoint))
    if input_kind == "record path":
        ecg, blocked = str(path), _blocked()
        expected = classifier(ecg, candidate_labels=LABELS)
    else:
        # wfdb (which brings pandas and matplotlib) reads files; arrays need none of the three.
        ecg = str(tmp_path / "ecg.npy")
        np.save(ecg, read_ecg(path).signal)
        blocked = _blocked(also_block=("wfdb", "pandas", "matplotlib"))
        expected = classifier(read_ecg(path).signal, sampling_rate=100, candidate_labels=LABELS)
    scores = _scores_in_a_fresh_interpreter(tiny_checkpoint, ecg, blocked)
    assert scores == pytest.approx({item["label"]: item["score"] for item in expected}, abs=1e-6)


def test_a_missing_extra_is_named(monkeypatch):
    from modeling_supreme.extras import require_extra

    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"modeling_supreme.training needs datasets.*modeling-supreme\[train\]"):
        require_extra("train", "modeling_supreme.training", ["datasets", "numpy"])
    require_extra("train", "modeling_supreme.training", ["numpy"])


@pytest.mark.slow
def test_importing_training_without_its_extra_names_the_extra():
    script = "import sys; sys.modules['accelerate'] = None; import modeling_supreme.training"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode != 0
    assert "pip install 'modeling-supreme[train]'" in completed.stderr
