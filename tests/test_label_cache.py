"""LabelEmbeddingCache: rows reused while the text tower is unchanged, invalidated by load, adapter change, optimizer
step, dtype and device; never used for a training tower; the model itself keeps no state."""

from __future__ import annotations

import pytest
import torch

from modeling_supreme import SupremeModel
from modeling_supreme.modeling_supreme import LabelEmbeddingCache, text_weights_version
from tests.tiny_models import tiny_config


def _labels(model: SupremeModel, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, model.config.text_config.vocab_size, (count, 6), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[::2, -2:] = 0
    return input_ids, attention_mask


def _ecgs(batch: int) -> torch.Tensor:
    return torch.randn(batch, 12, 1000, generator=torch.Generator().manual_seed(1))


def _count_text_encoder_calls(model: SupremeModel) -> list[int]:
    calls = [0]
    model.text_model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_model_forward_is_stateless(tiny_model):
    calls = _count_text_encoder_calls(tiny_model)
    input_ids, attention_mask = _labels(tiny_model, 3)
    with torch.no_grad():
        tiny_model(_ecgs(2), input_ids, attention_mask)
        tiny_model(_ecgs(2), input_ids, attention_mask)
    assert calls[0] == 2
    assert not any("cache" in name for name in vars(tiny_model))


def test_frozen_tower_encodes_each_text_once_and_matches_the_tokens_path(tiny_model):
    tiny_model.train()
    cache = LabelEmbeddingCache()
    calls = _count_text_encoder_calls(tiny_model)
    input_ids, attention_mask = _labels(tiny_model, 4)
    for _ in range(2):
        inputs = cache.model_inputs(tiny_model, input_ids, attention_mask)
        assert set(inputs) == {"label_embeds"}
        tiny_model(_ecgs(2), labels=torch.ones(2, 4), **inputs).loss.backward()
    assert calls[0] == 1 and cache.misses == 4 and cache.hits == 4
    # A subset, in another order and padded differently, is assembled from rows without encoding.
    subset = cache.embed(tiny_model, input_ids[[2, 0]][:, :5], attention_mask[[2, 0]][:, :5])
    assert calls[0] == 1
    with torch.no_grad():
        direct = tiny_model.encode_text(input_ids, attention_mask)
    torch.testing.assert_close(subset, direct[[2, 0]], atol=1e-5, rtol=1e-5)
    assert all(parameter.grad is None for parameter in tiny_model.text_model.parameters())
    assert tiny_model.label_projection[0].weight.grad is not None


def test_embed_texts_tokenises_and_encodes_only_new_texts(tiny_model, tiny_processor):
    cache = LabelEmbeddingCache()
    calls = _count_text_encoder_calls(tiny_model)
    first = cache.embed_texts(tiny_model, tiny_processor, ["normal ecg", "atrial fibrillation"])
    second = cache.embed_texts(tiny_model, tiny_processor, ["atrial fibrillation", "left bundle branch block"])
    assert first.shape == (2, tiny_model.config.text_config.hidden_size) and calls[0] == 2 and len(cache) == 3
    torch.testing.assert_close(first[1], second[0])
    tokens = tiny_processor(text=["left bundle branch block"], return_tensors="pt")
    with torch.no_grad():
        expected = tiny_model.encode_text(tokens["input_ids"], tokens["attention_mask"])
    torch.testing.assert_close(second[1:], expected, atol=1e-5, rtol=1e-5)


def test_trainable_tower_is_not_cached_in_training_but_is_in_inference():
    model = SupremeModel(tiny_config(text_trainable_layers=1)).train()
    cache = LabelEmbeddingCache()
    input_ids, attention_mask = _labels(model, 4)
    assert set(cache.model_inputs(model, input_ids, attention_mask)) == {"input_ids", "attention_mask"}
    calls = _count_text_encoder_calls(model)
    model(_ecgs(2), labels=torch.ones(2, 4), **cache.model_inputs(model, input_ids, attention_mask)).loss.backward()
    top, bottom = model._text_layers()[-1], model._text_layers()[0]
    assert all(parameter.grad is not None for parameter in top.parameters())
    assert all(parameter.grad is None for parameter in bottom.parameters())
    model.eval()
    with torch.no_grad():
        cache.embed(model, input_ids, attention_mask)
        cache.embed(model, input_ids, attention_mask)
    assert calls[0] == 2


def test_load_invalidates_cached_rows(tiny_model):
    cache = LabelEmbeddingCache()
    input_ids, attention_mask = _labels(tiny_model, 3)
    with torch.no_grad():
        before = cache.embed(tiny_model, input_ids, attention_mask)
        state = {
            name: value + 0.05 if "text_model" in name and value.is_floating_point() else value
            for name, value in tiny_model.state_dict().items()
        }
        tiny_model.load_state_dict(state)
        after = cache.embed(tiny_model, input_ids, attention_mask)
        expected = tiny_model.encode_text(input_ids, attention_mask)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected)


def test_optimizer_step_on_the_tower_invalidates_cached_rows():
    model = SupremeModel(tiny_config(text_trainable_layers=-1)).eval()
    cache = LabelEmbeddingCache()
    input_ids, attention_mask = _labels(model, 3)
    optimizer = torch.optim.SGD(model.text_model.parameters(), lr=0.5)
    with torch.no_grad():
        before = cache.embed(model, input_ids, attention_mask)
    model.encode_text(input_ids, attention_mask).sum().backward()
    optimizer.step()
    with torch.no_grad():
        after = cache.embed(model, input_ids, attention_mask)
        expected = model.encode_text(input_ids, attention_mask)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected)


def test_dtype_and_device_changes_invalidate_cached_rows(tiny_model):
    """A reported failure: `model.to(torch.bfloat16)` after one fp32 forward raised a dtype mismatch."""
    cache = LabelEmbeddingCache()
    input_ids, attention_mask = _labels(tiny_model, 3)
    version = text_weights_version(tiny_model)
    with torch.no_grad():
        assert cache.embed(tiny_model, input_ids, attention_mask).dtype == torch.float32
        tiny_model.to(torch.bfloat16)
        assert text_weights_version(tiny_model) != version
        inputs = cache.model_inputs(tiny_model, input_ids, attention_mask)
        assert inputs["label_embeds"].dtype == torch.bfloat16
        logits = tiny_model(_ecgs(2).to(torch.bfloat16), **inputs).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()
    # A device move replaces every parameter's storage: the same check, observable on CPU.
    tiny_model.to(torch.float32)
    moved = text_weights_version(tiny_model)
    tiny_model.text_model.to("meta")
    assert text_weights_version(tiny_model) != moved


def test_peft_adapter_switches_change_the_cached_embeddings(tiny_model):
    peft = pytest.importorskip("peft")
    input_ids, attention_mask = _labels(tiny_model, 3)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False)
    model = peft.get_peft_model(tiny_model, lora, adapter_name="first").eval()
    model.add_adapter(
        "second", peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False)
    )
    cache = LabelEmbeddingCache()
    ecgs = _ecgs(2)

    def logits() -> torch.Tensor:
        with torch.no_grad():
            return model(ecg_values=ecgs, **cache.model_inputs(model, input_ids, attention_mask)).logits

    def expected() -> torch.Tensor:
        with torch.no_grad():
            return model(ecg_values=ecgs, input_ids=input_ids, attention_mask=attention_mask).logits

    with_first = logits()
    torch.testing.assert_close(with_first, expected())
    with model.disable_adapter():
        disabled = logits()
        torch.testing.assert_close(disabled, expected())
    model.set_adapter("second")
    with_second = logits()
    torch.testing.assert_close(with_second, expected())
    assert not torch.allclose(with_first, disabled) and not torch.allclose(with_first, with_second)
    model.set_adapter("first")
    torch.testing.assert_close(logits(), with_first)


def test_rows_beyond_max_texts_are_dropped_oldest_first(tiny_model):
    cache = LabelEmbeddingCache(max_texts=2)
    input_ids, attention_mask = _labels(tiny_model, 3)
    with torch.no_grad():
        cache.embed(tiny_model, input_ids, attention_mask)
    assert len(cache) == 2
    with pytest.raises(ValueError, match="max_texts"):
        LabelEmbeddingCache(max_texts=0)
    with pytest.raises(ValueError, match="shape"):
        cache.embed(tiny_model, input_ids[0], attention_mask)
