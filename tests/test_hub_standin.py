"""The local Hub stand-in answers huggingface_hub, datasets and transformers as the Hub would, in this process
and in a fresh one."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError


def _run_fresh_python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_upload_folder_then_download_revisions_and_listings(local_hub, tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": 8}))
    (folder / "sub" / "notes.txt").write_text("first version")
    weights = np.arange(5000, dtype=np.float32).tobytes()
    (folder / "model.safetensors").write_bytes(weights)  # an LFS file, as on the Hub
    api = HfApi()
    api.create_repo("someone/tiny-model")
    first = api.upload_folder(folder_path=folder, repo_id="someone/tiny-model")
    api.upload_file(path_or_fileobj=b"second version", path_in_repo="sub/notes.txt", repo_id="someone/tiny-model")

    files = sorted(api.list_repo_files("someone/tiny-model"))
    assert files == [".gitattributes", "config.json", "model.safetensors", "sub/notes.txt"]
    tree = {entry.path: entry for entry in api.list_repo_tree("someone/tiny-model", recursive=True)}
    assert tree["model.safetensors"].lfs is not None and tree["model.safetensors"].size == len(weights)
    assert tree["config.json"].lfs is None
    assert [entry.path for entry in api.get_paths_info("someone/tiny-model", ["sub", "config.json", "absent"])] == [
        "sub",
        "config.json",
    ]

    assert open(hf_hub_download("someone/tiny-model", "sub/notes.txt")).read() == "second version"
    old = hf_hub_download("someone/tiny-model", "sub/notes.txt", revision=first.oid)
    assert open(old).read() == "first version"
    snapshot = snapshot_download("someone/tiny-model")
    assert (tmp_path / snapshot / "model.safetensors").read_bytes() == weights
    commits = api.list_repo_commits("someone/tiny-model")
    assert len(commits) == 3 and commits[1].commit_id == first.oid
    assert local_hub.repo_files("someone/tiny-model")["model.safetensors"] == weights

    fs = HfFileSystem()
    with fs.open("someone/tiny-model/model.safetensors", "rb") as file:
        file.seek(400)
        assert file.read(8) == weights[400:408]  # a ranged read
    assert local_hub.unhandled == []


def test_missing_repo_file_and_revision_raise_the_hub_errors(local_hub):
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("someone/absent")
    api.create_repo("someone/present", repo_type="dataset")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("someone/present", "absent.txt", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info("someone/present", revision="0" * 40)


@pytest.mark.slow
def test_pushed_model_and_dataset_load_in_a_fresh_process(local_hub, tmp_path):
    import datasets
    from transformers import BertConfig, BertModel

    model = BertModel(
        BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    )
    model.push_to_hub("someone/tiny-bert")
    features = datasets.Features({"id": datasets.Value("string"), "ecg": datasets.Array2D((12, 20), "float32")})
    signals = np.random.default_rng(0).normal(size=(3, 12, 20)).astype(np.float32)
    table = datasets.Dataset.from_dict({"id": ["a", "b", "c"], "ecg": list(signals)}, features=features)
    datasets.DatasetDict({"train": table.select([0, 1]), "test": table.select([2])}).push_to_hub("someone/ecgs")

    code = """
import datasets, torch
from transformers import AutoModel
model = AutoModel.from_pretrained("someone/tiny-bert")
print(sum(p.numel() for p in model.parameters()))
loaded = datasets.load_dataset("someone/ecgs").with_format("numpy")
print(loaded["train"].num_rows, loaded["test"].num_rows, float(loaded["test"][0]["ecg"].sum()))
"""
    lines = _run_fresh_python(code, local_hub.subprocess_env()).split()
    assert int(lines[0]) == sum(p.numel() for p in model.parameters())
    assert (int(lines[1]), int(lines[2])) == (2, 1)
    assert float(lines[3]) == pytest.approx(float(signals[2].sum()), rel=1e-5)
    assert local_hub.unhandled == []
