"""Publishing refuses folders that hold pickle files (they run code when loaded), before anything is uploaded."""

from __future__ import annotations

import importlib.util
import pickle
import shutil

import pytest
import torch
from huggingface_hub import ModelCard

from modeling_supreme.dataset_builders.dataset_push import push_dataset_folder
from modeling_supreme.pickle_files import find_pickle_files, is_pickle_file
from modeling_supreme.publishing import CARD_FILE, push_model_folder
from tests.sample_data import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location("publish_cli", REPO_ROOT / "eval" / "publish.py")
publish_cli = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(publish_cli)


def test_pickles_are_found_by_name_and_by_content(tmp_path):
    (tmp_path / "state.pkl").write_bytes(b"anything")
    (tmp_path / "weights").write_bytes(pickle.dumps({"a": 1}))
    torch.save({"w": torch.ones(2)}, tmp_path / "model.data")  # a zip archive holding data.pkl
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x02" + b"\0" * 30)  # header length 640, not a pickle
    (tmp_path / "notes").write_text("plain text")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "optimizer.bin").write_bytes(b"x")
    found = [path.relative_to(tmp_path).as_posix() for path in find_pickle_files(tmp_path)]
    assert found == ["model.data", "nested/optimizer.bin", "state.pkl", "weights"]
    assert not is_pickle_file(tmp_path / "notes")


def _model_folder(tiny_checkpoint, tmp_path):
    folder = tmp_path / "publish"
    shutil.copytree(tiny_checkpoint, folder)
    ModelCard("---\nlicense: apache-2.0\n---\n# tiny\n").save(folder / CARD_FILE)
    return folder


def test_push_refuses_a_model_folder_with_a_pickle_before_any_upload(local_hub, tiny_checkpoint, tmp_path):
    folder = _model_folder(tiny_checkpoint, tmp_path)
    (folder / "training_args.bin").write_bytes(pickle.dumps(object))
    with pytest.raises(ValueError, match=r"refusing to publish .*\['training_args.bin'\]") as raised:
        push_model_folder(folder, "someone/pickled")
    assert str(folder) in str(raised.value)
    assert not any(method == "POST" for method, _ in local_hub.requests)


def test_dataset_push_refuses_a_folder_with_a_pickle(local_hub, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cache.pickle").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"data/cache.pickle"):
        push_dataset_folder(tmp_path, "someone/dataset")
    assert not any(method == "POST" for method, _ in local_hub.requests)


@pytest.mark.parametrize("command", ["model", "dataset"])
def test_publish_cli_refuses_a_folder_with_a_pickle(local_hub, tiny_checkpoint, tmp_path, capsys, command):
    folder = _model_folder(tiny_checkpoint, tmp_path)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "custom_checkpoint_0.pkl").write_bytes(pickle.dumps(1))
    arguments = (
        ["--model", str(folder), "--results", str(tmp_path)] if command == "model" else ["--folder", str(folder)]
    )
    assert publish_cli.main([command, *arguments, "--repo-id", "someone/x"]) == 2
    error = capsys.readouterr().err
    assert f"refusing to publish {folder}" in error and "checkpoints/custom_checkpoint_0.pkl" in error
    assert not any(method == "POST" for method, _ in local_hub.requests)
