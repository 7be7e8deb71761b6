"""The ecg-zero-shot pipeline: inputs, labels, batching, caching, and loading in and out of the package."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

import modeling_supreme
from modeling_supreme import SupremeModel, read_ecg
from modeling_supreme.configuration_supreme import DELETED_FIELDS
from modeling_supreme.moved_modules import MOVED_MODULES
from modeling_supreme.publishing import CODE_FILES
from tests.remote_code import offline_environment, scores_without_the_package
from tests.sample_data import ptbxl_record

LABELS = ["normal ecg", "myocardial infarction", "left bundle branch block", "atrial fibrillation"]
SHIPPED_FILES = list(CODE_FILES)


@pytest.fixture
def classifier(tiny_checkpoint):
    return pipeline("ecg-zero-shot", model=str(tiny_checkpoint))


def _check_result(result, labels):
    assert sorted(item["label"] for item in result) == sorted(labels)
    scores = [item["score"] for item in result]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_pipeline_loads_in_process_without_trust_remote_code(classifier):
    assert type(classifier).__name__ == "EcgZeroShotPipeline"
    assert isinstance(classifier.model, SupremeModel)


def test_record_path_with_and_without_extension(classifier):
    path = ptbxl_record(1)
    without = classifier(str(path), candidate_labels=LABELS)
    with_extension = classifier(str(path) + ".hea", candidate_labels=LABELS)
    _check_result(without, LABELS)
    assert without == with_extension


def test_array_tensor_and_dict_inputs_agree_with_the_record(classifier):
    record = read_ecg(ptbxl_record(2))
    from_path = classifier(str(ptbxl_record(2)), candidate_labels=LABELS)
    from_array = classifier(record.signal, sampling_rate=100, lead_names=record.lead_names, candidate_labels=LABELS)
    from_tensor = classifier(torch.from_numpy(record.signal), sampling_rate=100, lead_names=record.lead_names,
                             candidate_labels=LABELS)
    from_dict = classifier({"signal": record.signal, "sampling_rate": 100, "lead_names": record.lead_names},
                           candidate_labels=LABELS)
    for result in (from_array, from_tensor, from_dict):
        assert [item["label"] for item in result] == [item["label"] for item in from_path]
        np.testing.assert_allclose([r["score"] for r in result], [r["score"] for r in from_path], atol=1e-6)


def test_list_input_with_batch_size_matches_one_by_one(classifier):
    paths = [str(ptbxl_record(ecg_id)) for ecg_id in (1, 2, 3, 4, 5)]
    batched = classifier(paths, candidate_labels=LABELS, batch_size=2)
    assert isinstance(batched, list) and len(batched) == 5
    for path, result in zip(paths, batched):
        single = classifier(path, candidate_labels=LABELS)
        assert [item["label"] for item in result] == [item["label"] for item in single]
        np.testing.assert_allclose([r["score"] for r in result], [r["score"] for r in single], atol=1e-5)


def test_pipeline_scores_equal_a_bare_model_call(classifier, tiny_processor):
    path = ptbxl_record(3)
    result = {item["label"]: item["score"] for item in classifier(str(path), candidate_labels=LABELS)}
    inputs = tiny_processor(ecg=read_ecg(path), text=LABELS, return_tensors="pt")
    with torch.no_grad():
        logits = classifier.model(**inputs).logits[0]
    np.testing.assert_allclose([result[label] for label in LABELS], torch.sigmoid(logits).numpy(), atol=1e-6)


def test_dict_labels_encode_descriptions_and_return_names(classifier):
    path = str(ptbxl_record(4))
    described = classifier(path, candidate_labels={"MI": "myocardial infarction", "AFIB": "atrial fibrillation"})
    plain = classifier(path, candidate_labels=["myocardial infarction", "atrial fibrillation"])
    names = {"MI": "myocardial infarction", "AFIB": "atrial fibrillation"}
    assert {names[r["label"]]: r["score"] for r in described} == pytest.approx({r["label"]: r["score"] for r in plain})


def test_default_labels_are_the_model_vocabulary(classifier):
    result = classifier(str(ptbxl_record(5)))
    _check_result(result, ["NORM", "MI", "CD"])
    explicit = classifier(str(ptbxl_record(5)), candidate_labels={
        "NORM": "normal ecg", "MI": "myocardial infarction", "CD": "conduction disturbance"})
    assert result == explicit


def test_hypothesis_template_changes_the_encoded_text(classifier):
    path = str(ptbxl_record(6))
    plain = classifier(path, candidate_labels=LABELS)
    templated = classifier(path, candidate_labels=LABELS, hypothesis_template="an ecg with {}")
    assert [r["score"] for r in plain] != [r["score"] for r in templated]
    with pytest.raises(ValueError, match="hypothesis_template"):
        classifier(path, candidate_labels=LABELS, hypothesis_template="no placeholder")


def test_label_embeddings_are_cached_across_calls(classifier):
    calls = [0]
    classifier.model.text_model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    classifier(str(ptbxl_record(7)), candidate_labels=LABELS)
    classifier([str(ptbxl_record(8)), str(ptbxl_record(9))], candidate_labels=LABELS, batch_size=2)
    assert calls[0] == 1
    # Rows are cached per text: a subset needs no encoding, a new label only its own.
    classifier(str(ptbxl_record(7)), candidate_labels=LABELS[:2])
    assert calls[0] == 1
    classifier(str(ptbxl_record(7)), candidate_labels=LABELS[:2] + ["sinus rhythm"])
    assert calls[0] == 2 and classifier.label_cache.misses == len(LABELS) + 1


def test_attention_over_time_is_returned_on_request(classifier):
    result = classifier(str(ptbxl_record(10)), candidate_labels=LABELS, return_attention=True)
    for item in result:
        assert item["attention"].ndim == 1 and item["attention"].sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "bad_input, kwargs, error, message",
    [
        (np.zeros(1000), {"sampling_rate": 100}, ValueError, "rank|dimension|2-D"),
        (np.zeros((2, 12, 1000)), {"sampling_rate": 100}, ValueError, "rank|dimension|2-D"),
        (np.zeros((12, 1000)), {}, ValueError, "sampling_rate"),
        (np.zeros((12, 20)), {"sampling_rate": 100}, ValueError, "short"),
        (np.full((12, 1000), np.nan), {"sampling_rate": 100}, ValueError, "NaN"),
        (np.zeros((2, 1000)), {"sampling_rate": 100, "lead_names": ["I", "foo"]}, ValueError, "foo"),
        ({"signal": np.zeros((12, 1000))}, {}, ValueError, "sampling_rate"),
        ("does/not/exist_lr", {}, FileNotFoundError, "does/not/exist_lr"),
        (3.5, {}, ValueError, "float"),
    ],
)
def test_bad_inputs_raise_errors_that_name_the_problem(classifier, bad_input, kwargs, error, message):
    with pytest.raises(error, match=message):
        classifier(bad_input, candidate_labels=LABELS, **kwargs)


def test_empty_candidate_labels_raise(classifier):
    with pytest.raises(ValueError, match="empty"):
        classifier(str(ptbxl_record(1)), candidate_labels=[])
    with pytest.raises(ValueError, match="empty"):
        classifier(str(ptbxl_record(1)), candidate_labels={})


def test_model_without_vocabulary_asks_for_candidate_labels(tmp_path, tiny_model, tiny_processor):
    tiny_model.save_pretrained(tmp_path)
    tiny_processor.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="candidate_labels"):
        pipeline("ecg-zero-shot", model=str(tmp_path))(str(ptbxl_record(1)))


def test_shipped_code_files_use_only_relative_imports_among_themselves():
    package_dir = Path(modeling_supreme.__file__).parent
    for name in SHIPPED_FILES:
        tree = ast.parse((package_dir / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("modeling_supreme"), f"{name} imports {node.module} absolutely"
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("modeling_supreme") for alias in node.names), name


def test_shipped_files_are_exactly_what_the_registered_classes_import():
    # The list publishing checks for is the closure of relative imports transformers follows when it saves code.
    from transformers.dynamic_module_utils import get_relative_import_files

    package_dir = Path(modeling_supreme.__file__).parent
    roots = ["configuration_supreme.py", "modeling_supreme.py", "processing_supreme.py", "pipeline_ecg_zero_shot.py"]
    closure = set(roots)
    for root in roots:
        closure |= {Path(path).name for path in get_relative_import_files(str(package_dir / root))}
    assert closure == set(CODE_FILES)


def test_saved_checkpoint_carries_every_shipped_code_file(tiny_checkpoint):
    # transformers copies the files a class's module imports relatively; a sibling left out breaks remote loading.
    missing = [name for name in SHIPPED_FILES if not (tiny_checkpoint / name).is_file()]
    assert not missing, f"{tiny_checkpoint} lacks {missing}"


@pytest.mark.slow
def test_fresh_interpreter_without_the_package_loads_with_trust_remote_code(tmp_path, tiny_checkpoint, classifier):
    record = str(ptbxl_record(11))
    expected = {item["label"]: item["score"] for item in classifier(record, candidate_labels=LABELS)}
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert "ecg-zero-shot" in config["custom_pipelines"] and "AutoModel" in config["auto_map"]
    remote, model_module = scores_without_the_package(
        str(tiny_checkpoint), record, LABELS, tmp_path, offline_environment(tmp_path)
    )
    assert model_module.startswith("transformers_modules")
    assert remote.keys() == expected.keys()
    for label, score in expected.items():
        assert remote[label] == pytest.approx(score, abs=1e-5)


def _as_saved_before_the_moves(checkpoint: Path, folder: Path) -> Path:
    """A copy of `checkpoint` whose code files have the names they had before they moved (`MOVED_MODULES`), and whose
    config.json holds the fields of options deleted since at the values that meant off (`DELETED_FIELDS`), as a
    checkpoint saved by the previous release holds them."""
    renamed = {new.rsplit(".", 1)[1]: old.rsplit(".", 1)[1] for old, new in MOVED_MODULES.items()
               if f"{new.rsplit('.', 1)[1]}.py" in SHIPPED_FILES}
    assert renamed, "no checkpoint file moved"
    shutil.copytree(checkpoint, folder)
    for path in folder.glob("*.py"):
        text = path.read_text()
        for new, old in renamed.items():
            text = re.sub(rf"from \.{new} import", f"from .{old} import", text)
        path.write_text(text)
    for new, old in renamed.items():
        (folder / f"{new}.py").rename(folder / f"{old}.py")
    config_file = folder / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **DELETED_FIELDS}, indent=2))
    return folder


@pytest.mark.slow
def test_a_checkpoint_of_the_previous_release_still_loads(tmp_path, tiny_checkpoint, classifier):
    old = _as_saved_before_the_moves(tiny_checkpoint, tmp_path / "old_checkpoint")
    record = str(ptbxl_record(11))
    expected = {item["label"]: item["score"] for item in classifier(record, candidate_labels=LABELS)}
    in_process = pipeline("ecg-zero-shot", model=str(old))(record, candidate_labels=LABELS)
    assert {item["label"]: item["score"] for item in in_process} == pytest.approx(expected, abs=1e-6)
    remote, model_module = scores_without_the_package(str(old), record, LABELS, tmp_path, offline_environment(tmp_path))
    assert model_module.startswith("transformers_modules")
    assert remote == pytest.approx(expected, abs=1e-5)


def test_auto_classes_resolve_the_supreme_classes_from_a_checkpoint(tiny_checkpoint):
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor

    from modeling_supreme import SupremeConfig, SupremeFeatureExtractor, SupremeProcessor

    assert type(AutoConfig.from_pretrained(tiny_checkpoint)) is SupremeConfig
    assert type(AutoModel.from_pretrained(tiny_checkpoint)) is SupremeModel
    assert type(AutoFeatureExtractor.from_pretrained(tiny_checkpoint)) is SupremeFeatureExtractor
    processor = AutoProcessor.from_pretrained(tiny_checkpoint)
    assert type(processor) is SupremeProcessor
    assert processor.feature_extractor.sampling_rate == 100 and processor.feature_extractor.num_samples == 1000
