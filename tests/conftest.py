"""Shared fixtures: tiny models built from configs (no download), the local Hub stand-in, a small built dataset.

Paths of the bundled real data are in `tests/sample_data.py`."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

# Fixtures that several test modules use: the local Hub stand-in and a small built PTB-XL dataset with entities.
from tests.hub_standin import local_hub  # noqa: F401
from tests.tiny_models import TINY_TEXT_CONFIG, tiny_config as build_tiny_config
from tests.training_helpers import training_dataset  # noqa: F401


# Words of ECG reports and label texts; anything else becomes [UNK] in the tiny tokenizer.
TINY_VOCABULARY = """
sinus rhythm normal ecg abnormal atrial fibrillation flutter left right bundle branch block complete incomplete
anterior inferior lateral septal posterior myocardial infarction ischemia ischemic st t wave changes depression
elevation hypertrophy ventricular axis deviation premature complex contraction bradycardia tachycardia arrhythmia
first second third degree av conduction disturbance low high voltage qrs q waves pacemaker prolonged pr interval
fascicular hemiblock non specific st-t abnormality myocardial age undetermined possible probable borderline old
the of in and with a an is no not this ecg record shows an electrocardiogram
""".split()


def build_tiny_tokenizer():
    """A word-level BERT-style tokenizer ([CLS] text [SEP]) over `TINY_VOCABULARY`, built without any download."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocabulary = {token: index for index, token in enumerate(specials + sorted(set(TINY_VOCABULARY)))}
    backend = Tokenizer(WordLevel(vocabulary, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocabulary["[CLS]"]), ("[SEP]", vocabulary["[SEP]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=128,
    )


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_text_encoder_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A folder with a tiny random BERT and its tokenizer, usable wherever a text encoder name is expected."""
    import torch
    from transformers import BertConfig, BertModel

    values = copy.deepcopy(TINY_TEXT_CONFIG)
    values.pop("model_type")
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_text_encoder")
    BertModel(BertConfig(**values)).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_config():
    return build_tiny_config()


@pytest.fixture
def tiny_model(tiny_config):
    import torch

    from modeling_supreme import SupremeModel

    torch.manual_seed(0)
    return SupremeModel(tiny_config).eval()


@pytest.fixture
def tiny_processor(tiny_tokenizer, tiny_config):
    from modeling_supreme import SupremeFeatureExtractor, SupremeProcessor

    feature_extractor = SupremeFeatureExtractor(sampling_rate=tiny_config.sampling_rate, num_samples=tiny_config.num_samples)
    return SupremeProcessor(feature_extractor, tiny_tokenizer, label_max_length=tiny_config.label_max_length)


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_model, tiny_processor) -> Path:
    """A saved tiny model with a label vocabulary, its processor and code: what `pipeline(model=...)` loads."""
    tiny_model.config.set_labels(
        ["NORM", "MI", "CD"],
        {"NORM": "normal ecg", "MI": "myocardial infarction", "CD": "conduction disturbance"},
    )
    folder = tmp_path / "tiny_checkpoint"
    tiny_model.save_pretrained(folder)
    tiny_processor.save_pretrained(folder)
    return folder
