"""LoRA fine-tuning: adapters change the scores, only adapter weights train, the epoch is chosen on validation, and a
saved adapter reproduces the scores exactly through peft, the pipeline, and a fresh interpreter without the package."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import pipeline

from modeling_supreme.evaluation import TASKS, load_label_descriptions
from modeling_supreme.evaluation.lora import LoraSettings, add_lora, finetune_task, load_adapter_model, save_adapter
from modeling_supreme.evaluation.records import PtbxlFolder
from modeling_supreme.evaluation.run_benchmark import load_model_and_processor, score_split
from tests.remote_code import offline_environment, scores_without_the_package
from tests.sample_data import PTBXL_DIR, SPLITS_DIR, ptbxl_record
from tests.tiny_models import tiny_config

SETTINGS = LoraSettings(
    parts=("fusion", "text"), rank=4, alpha=8, dropout=0.0, learning_rate=2e-2, epochs=2, batch_size=16
)
SPEC = TASKS["ptbxl_super"]


@pytest.fixture(scope="module")
def small_splits(tmp_path_factory):
    """The super-class tables cut to 32 train, 16 val and 16 test rows (keeps the test fast)."""
    folder = tmp_path_factory.mktemp("splits")
    (folder / "ptbxl" / "super_class").mkdir(parents=True)
    for split, rows in (("train", 32), ("val", 16), ("test", 16)):
        pd.read_csv(SPLITS_DIR / SPEC.tables[split]).head(rows).to_csv(folder / SPEC.tables[split], index=False)
    return folder


def scores_of(model, processor, splits):
    """Test-split scores (n, 5) of the super-class labels, asked by their descriptions."""
    texts = [load_label_descriptions()["ptbxl_super"][name] for name in SPEC.label_columns(splits)]
    # The batch size of `finetune_task`'s own test scoring, so that equal weights give bit-identical scores.
    _, scores = score_split(
        model,
        processor,
        SPEC,
        splits,
        "test",
        PtbxlFolder(PTBXL_DIR, 100),
        label_texts=texts,
        batch_size=SETTINGS.batch_size,
        progress=False,
    )
    return scores


@pytest.fixture(scope="module")
def finetuned(small_splits, tmp_path_factory):
    """(base checkpoint, base scores, peft model, processor, task result, adapter folder) after fine-tuning."""
    from modeling_supreme import SupremeFeatureExtractor, SupremeModel, SupremeProcessor
    from modeling_supreme.pipeline_ecg_zero_shot import save_pipeline_folder
    from tests.conftest import build_tiny_tokenizer

    base = tmp_path_factory.mktemp("base")
    torch.manual_seed(0)
    config = tiny_config()
    feature_extractor = SupremeFeatureExtractor(sampling_rate=config.sampling_rate, num_samples=config.num_samples)
    processor = SupremeProcessor(feature_extractor, build_tiny_tokenizer(), label_max_length=config.label_max_length)
    save_pipeline_folder(SupremeModel(config), processor, base)  # with the pipeline's code, for remote loading

    model, processor = load_model_and_processor(base)
    base_scores = scores_of(model, processor, small_splits)
    base_weights = {name: value.clone() for name, value in model.state_dict().items()}
    peft_model = add_lora(model, SETTINGS)
    # LoRA starts as the identity (B = 0): wrapping alone changes nothing.
    np.testing.assert_array_equal(scores_of(peft_model, processor, small_splits), base_scores)
    result = finetune_task(
        peft_model,
        processor,
        SPEC,
        small_splits,
        PtbxlFolder(PTBXL_DIR, 100),
        load_label_descriptions(),
        SETTINGS,
        n_resamples=20,
        progress=False,
    )
    adapter = save_adapter(peft_model, processor, tmp_path_factory.mktemp("adapter") / "ptbxl_super", str(base))
    return {
        "base": base,
        "base_scores": base_scores,
        "base_weights": base_weights,
        "model": peft_model,
        "processor": processor,
        "result": result,
        "adapter": adapter,
        "splits": small_splits,
    }


def test_adapter_changes_scores_and_only_adapter_weights_train(finetuned):
    model, result = finetuned["model"], finetuned["result"]
    assert result.evaluated
    assert not np.allclose(result.scores, finetuned["base_scores"], atol=1e-4)
    np.testing.assert_array_equal(result.scores, scores_of(model, finetuned["processor"], finetuned["splits"]))
    base_model = model.get_base_model()
    for name, value in base_model.state_dict().items():
        if "lora_" in name:
            continue
        original = name.replace(".base_layer", "")
        assert torch.equal(value, finetuned["base_weights"][original]), name
    trainable = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert any("text_model" in name for name in trainable) and any("fusion" in name for name in trainable)


def test_epoch_is_selected_on_validation(finetuned):
    extra = finetuned["result"].extra
    history = extra["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    best = max(history, key=lambda entry: entry["val_auroc"])
    assert extra["selected_epoch"] == best["epoch"]
    assert extra["validation_auroc"] == pytest.approx(best["val_auroc"], abs=1e-3)


def test_saved_adapter_reproduces_scores_exactly(finetuned):
    adapter_config = json.loads((finetuned["adapter"] / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(finetuned["base"])
    reloaded, processor = load_adapter_model(finetuned["adapter"])
    np.testing.assert_array_equal(scores_of(reloaded, processor, finetuned["splits"]), finetuned["result"].scores)
    merged = reloaded.merge_and_unload()
    np.testing.assert_allclose(scores_of(merged, processor, finetuned["splits"]), finetuned["result"].scores, atol=1e-6)


def test_pipeline_loads_base_model_adapter_and_processor(finetuned):
    classifier = pipeline("ecg-zero-shot", model=str(finetuned["adapter"]))
    labels = SPEC.label_columns(finetuned["splits"])
    descriptions = load_label_descriptions()["ptbxl_super"]
    ecg_id = int(pd.read_csv(finetuned["splits"] / SPEC.tables["test"])["ecg_id"].iloc[0])
    result = classifier(str(ptbxl_record(ecg_id)), candidate_labels={name: descriptions[name] for name in labels})
    scores = {item["label"]: item["score"] for item in result}
    expected = finetuned["result"].scores[0]
    assert [scores[name] for name in labels] == pytest.approx(expected.tolist(), abs=1e-6)


@pytest.mark.slow
def test_fresh_interpreter_without_the_package_loads_the_adapter(finetuned, tmp_path):
    labels = SPEC.label_columns(finetuned["splits"])
    descriptions = load_label_descriptions()["ptbxl_super"]
    candidates = {name: descriptions[name] for name in labels}
    record = str(ptbxl_record(int(pd.read_csv(finetuned["splits"] / SPEC.tables["test"])["ecg_id"].iloc[0])))
    remote, _ = scores_without_the_package(
        str(finetuned["adapter"]), record, candidates, tmp_path, offline_environment(tmp_path)
    )
    assert [remote[name] for name in labels] == pytest.approx(finetuned["result"].scores[0].tolist(), abs=1e-6)


def test_lora_settings_are_validated(tiny_model):
    with pytest.raises(ValueError, match="parts"):
        LoraSettings(parts=("ecg",))
    with pytest.raises(ValueError, match="positive"):
        LoraSettings(epochs=0)
    with pytest.raises(ValueError, match="not found"):
        add_lora(tiny_model, LoraSettings(parts=("text",), text_pattern=r".*no_such_module"))
