"""SupremeModel: shapes, label independence, objectives, save/load (the label-embedding cache: test_label_cache.py)."""

from __future__ import annotations

import pytest
import torch

from modeling_supreme import SupremeConfig, SupremeModel
from tests.tiny_models import TINY_ECG_ENCODERS, tiny_config


def _labels(model: SupremeModel, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, model.config.text_config.vocab_size, (count, 6), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[::2, -2:] = 0  # some padded label texts
    return input_ids, attention_mask


def _ecgs(batch: int, samples: int = 1000) -> torch.Tensor:
    return torch.randn(batch, 12, samples, generator=torch.Generator().manual_seed(1))


def test_default_config_is_resnet18_with_313_tokens_for_10s_at_500hz():
    config = SupremeConfig()
    assert config.ecg_encoder == "resnet1d18" and config.num_samples == 5000 and config.sampling_rate == 500
    model = SupremeModel(config).eval()
    tokens, pooled = model.get_ecg_features(torch.zeros(1, 12, 5000))
    assert tokens.shape == (1, 313, 512) and pooled.shape == (1, 512)


def test_vit1d_tiny_gives_100_tokens_of_width_192():
    model = SupremeModel(SupremeConfig(ecg_encoder="vit1d_tiny")).eval()
    tokens, pooled = model.get_ecg_features(torch.zeros(1, 12, 5000))
    assert tokens.shape == (1, 100, 192) and pooled.shape == (1, 192)
    assert len(model.ecg_encoder.blocks.layers) == 12


def test_tiny_preset_is_small(tiny_model):
    assert sum(parameter.numel() for parameter in tiny_model.parameters()) < 200_000


def test_forward_shapes_and_loss(tiny_model):
    input_ids, attention_mask = _labels(tiny_model, 5)
    labels = torch.zeros(3, 5)
    labels[0, 1] = 1
    output = tiny_model(_ecgs(3), input_ids, attention_mask, labels=labels, output_attentions=True)
    assert output.logits.shape == (3, 5)
    assert output.loss is not None and output.loss.ndim == 0 and torch.isfinite(output.loss)
    assert output.ecg_embeds.shape == (3, tiny_model.config.embed_dim)
    assert output.text_embeds.shape == (5, tiny_model.config.fusion_dim)
    attentions = output.cross_attentions
    assert attentions.shape[:2] == (3, 5)
    torch.testing.assert_close(attentions.sum(-1), torch.ones(3, 5))
    assert tiny_model(_ecgs(3), input_ids, attention_mask).loss is None


@pytest.mark.parametrize("encoder", sorted(TINY_ECG_ENCODERS))
def test_label_score_does_not_depend_on_other_labels(encoder):
    torch.manual_seed(0)
    model = SupremeModel(tiny_config(**TINY_ECG_ENCODERS[encoder])).eval()
    input_ids, attention_mask = _labels(model, 6)
    ecgs = _ecgs(2)
    with torch.no_grad():
        all_logits = model(ecgs, input_ids, attention_mask).logits
        subset = [4, 1]
        subset_logits = model(ecgs, input_ids[subset], attention_mask[subset]).logits
        alone = model(ecgs, input_ids[3:4], attention_mask[3:4]).logits
    torch.testing.assert_close(subset_logits, all_logits[:, subset], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone[:, 0], all_logits[:, 3], atol=1e-5, rtol=1e-5)


def test_clip_objective_scores_by_cosine_and_trains_on_reports():
    torch.manual_seed(0)
    model = SupremeModel(tiny_config(objective="clip", text_trainable_layers=-1))
    input_ids, attention_mask = _labels(model, 4)
    output = model(_ecgs(4), input_ids, attention_mask, labels=torch.ones(4, 4), report_input_ids=input_ids,
                   report_attention_mask=attention_mask)
    assert output.classification_loss is None and output.contrastive_loss is not None
    torch.testing.assert_close(output.loss, output.contrastive_loss)
    expected = model.logit_scale.exp() * output.ecg_embeds @ output.text_embeds.t()
    torch.testing.assert_close(output.logits, expected)
    output.loss.backward()
    assert model.text_model.embeddings.word_embeddings.weight.grad is not None


def test_supreme_objective_trains_on_labels_alone_and_ignores_reports():
    torch.manual_seed(0)
    model = SupremeModel(tiny_config())
    input_ids, attention_mask = _labels(model, 4)
    output = model(_ecgs(4), input_ids, attention_mask, labels=torch.ones(4, 4), report_input_ids=input_ids,
                   report_attention_mask=attention_mask)
    assert output.contrastive_loss is None and output.classification_loss is not None
    torch.testing.assert_close(output.loss, output.classification_loss)


def test_asymmetric_loss_and_positive_weights_change_the_loss():
    torch.manual_seed(0)
    base = SupremeModel(tiny_config()).eval()
    input_ids, attention_mask = _labels(base, 3)
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    losses = {}
    for name, kwargs in {
        "bce": {}, "asl": {"classification_loss": "asymmetric"}, "pw": {"pos_weight": [5.0, 5.0, 5.0]}
    }.items():
        model = SupremeModel(tiny_config(**kwargs)).eval()
        model.load_state_dict(base.state_dict())
        losses[name] = model(_ecgs(2), input_ids, attention_mask, labels=labels).loss.item()
    assert losses["asl"] != pytest.approx(losses["bce"]) and losses["pw"] > losses["bce"]
    mismatched = SupremeModel(tiny_config(pos_weight=[1.0, 2.0]))
    with pytest.raises(ValueError, match="pos_weight"):
        mismatched(_ecgs(2), input_ids, attention_mask, labels=labels)


def test_bad_inputs_raise_clear_errors(tiny_model):
    with pytest.raises(ValueError, match=r"\(batch, 12, samples\)"):
        tiny_model(torch.zeros(12, 1000))
    with pytest.raises(ValueError, match="unknown|Unknown"):
        SupremeConfig(ecg_encoder="resnet999")
    with pytest.raises(ValueError, match="objective"):
        SupremeConfig(objective="mse")


def test_lead_mask_zeroes_missing_leads(tiny_model):
    ecgs = _ecgs(1)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 7:] = False
    zeroed = ecgs.clone()
    zeroed[:, 7:] = 0
    with torch.no_grad():
        torch.testing.assert_close(
            tiny_model.get_ecg_embeddings(ecgs, mask), tiny_model.get_ecg_embeddings(zeroed)
        )


def test_save_and_load_reproduce_logits_with_safetensors_only(tmp_path, tiny_model):
    tiny_model.config.set_labels(["a", "b"], {"a": "sinus rhythm"})
    tiny_model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    # The pipeline's code is written by save_pipeline_folder (Pipeline.save_pretrained), not by the model.
    for code_file in ("configuration_supreme.py", "modeling_supreme.py"):
        assert (tmp_path / code_file).exists()
    loaded = SupremeModel.from_pretrained(tmp_path).eval()
    assert loaded.config.label_texts == ["sinus rhythm", "b"]
    input_ids, attention_mask = _labels(tiny_model, 3)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(_ecgs(2), input_ids, attention_mask).logits, tiny_model(_ecgs(2), input_ids, attention_mask).logits
        )


def test_from_text_pretrained_holds_the_pretrained_text_weights(tiny_text_encoder_dir):
    from transformers import AutoModel

    model = SupremeModel.from_text_pretrained(str(tiny_text_encoder_dir), **TINY_ECG_ENCODERS["resnet"], fusion_dim=32,
                                              fusion_heads=2, fusion_ffn_dim=64, embed_dim=32)
    reference = AutoModel.from_pretrained(tiny_text_encoder_dir)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(model.text_model.state_dict()[name], value)
    assert model.config.text_config.hidden_size == reference.config.hidden_size


def test_default_text_encoder_is_the_packaged_minilm():
    from modeling_supreme import SupremeProcessor

    model = SupremeModel.from_text_pretrained(**TINY_ECG_ENCODERS["resnet"]).eval()
    processor = SupremeProcessor.from_text_pretrained(sampling_rate=100, num_samples=1000)
    assert model.config.text_config.hidden_size == 384 and model.config.text_config.num_hidden_layers == 6
    tokens = processor(text=["left bundle branch block", "right bundle branch block", "the weather is sunny"],
                       return_tensors="pt")
    with torch.no_grad():
        embeddings = torch.nn.functional.normalize(
            model.encode_text(tokens["input_ids"], tokens["attention_mask"]), dim=-1
        )
    similarity = embeddings @ embeddings.t()
    # Real pretrained weights: the two bundle branch blocks are closer to each other than to unrelated text.
    assert similarity[0, 1] > similarity[0, 2] + 0.2
