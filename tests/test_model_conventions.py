"""transformers' model conventions (in the spirit of ModelTesterMixin, which the wheel does not ship) on two tiny
configs, a ResNet and a ViT ECG encoder: strict arguments, output flags, return_dict, save/load, determinism, batching
equivalence, gradient checkpointing, input embeddings, the frozen tower after loading, torch.compile and export."""

from __future__ import annotations

import pytest
import torch

from modeling_supreme import SupremeConfig, SupremeModel
from tests.tiny_models import TINY_ECG_ENCODERS, tiny_config

ENCODERS = ["resnet", "vit"]


@pytest.fixture(params=ENCODERS)
def model(request) -> SupremeModel:
    torch.manual_seed(0)
    return SupremeModel(tiny_config(**TINY_ECG_ENCODERS[request.param], dropout=0.0)).eval()


def _inputs(model: SupremeModel, batch: int = 3, labels: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(5, model.config.text_config.vocab_size, (labels, 6), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, -2:] = 0
    ecg_values = torch.randn(batch, 12, model.config.num_samples, generator=generator)
    return {"ecg_values": ecg_values, "input_ids": input_ids, "attention_mask": attention_mask}


def test_unknown_and_misspelt_arguments_raise(model):
    inputs = _inputs(model)
    with pytest.raises(TypeError, match="label"):
        model(**inputs, label=torch.ones(3, 4))
    with pytest.raises(TypeError, match="foo"):
        model(**inputs, foo=1)
    with pytest.raises(ValueError, match="not both"):
        model(**inputs, label_embeds=torch.zeros(4, model.config.text_config.hidden_size))
    with pytest.raises(ValueError, match="label_embeds must have shape"):
        model(ecg_values=inputs["ecg_values"], label_embeds=torch.zeros(4, 7))


def test_label_embeds_give_the_same_logits_as_tokens(model):
    inputs = _inputs(model)
    with torch.no_grad():
        embeds = model.encode_text(inputs["input_ids"], inputs["attention_mask"])
        from_tokens = model(**inputs).logits
        from_embeds = model(ecg_values=inputs["ecg_values"], label_embeds=embeds).logits
    torch.testing.assert_close(from_embeds, from_tokens)


def test_return_dict_false_gives_the_tuple_of_the_set_fields(model):
    inputs = _inputs(model)
    with torch.no_grad():
        output = model(**inputs, labels=torch.ones(3, 4))
        as_tuple = model(**inputs, labels=torch.ones(3, 4), return_dict=False)
        model.config.return_dict = False
        from_config = model(**inputs)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(output.to_tuple())
    torch.testing.assert_close(as_tuple[0], output.loss)
    torch.testing.assert_close(as_tuple[1], output.logits)
    assert isinstance(from_config, tuple)


def test_output_hidden_states_from_argument_and_config(model):
    inputs = _inputs(model)
    with torch.no_grad():
        plain = model(**inputs)
        output = model(**inputs, output_hidden_states=True)
        model.config.output_hidden_states = True
        from_config = model(**inputs)
    assert plain.ecg_hidden_states is None and plain.fusion_hidden_states is None
    architecture = model.config.ecg_architecture
    expected_ecg = 1 + (len(architecture["widths"]) if architecture["kind"] == "resnet1d" else architecture["depth"])
    assert len(output.ecg_hidden_states) == expected_ecg
    assert all(state.dim() == 3 and state.shape[0] == 3 for state in output.ecg_hidden_states)
    assert len(output.fusion_hidden_states) == model.config.fusion_layers + 1
    assert output.fusion_hidden_states[0].shape == (3, 4, model.config.fusion_dim)
    assert len(from_config.ecg_hidden_states) == expected_ecg
    torch.testing.assert_close(output.logits, plain.logits)


def test_output_attentions_from_argument_and_config(model):
    inputs = _inputs(model)
    with torch.no_grad():
        assert model(**inputs).cross_attentions is None
        output = model(**inputs, output_attentions=True)
        model.set_attn_implementation("eager")  # transformers refuses config.output_attentions with sdpa
        model.config.output_attentions = True
        from_config = model(**inputs)
    assert len(output.fusion_attentions) == model.config.fusion_layers
    batch, heads, labels, _ = output.fusion_attentions[0].shape
    assert (batch, heads, labels) == (3, model.config.fusion_heads, 4)
    torch.testing.assert_close(output.cross_attentions, output.fusion_attentions[-1].mean(dim=1))
    torch.testing.assert_close(output.cross_attentions.sum(-1), torch.ones(3, 4))
    assert from_config.cross_attentions is not None


def test_save_load_round_trip_and_determinism(model, tmp_path):
    inputs = _inputs(model)
    model.save_pretrained(tmp_path)
    loaded = SupremeModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        first, second = model(**inputs).logits, model(**inputs).logits
        reloaded = loaded(**inputs).logits
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    torch.testing.assert_close(reloaded, first)
    assert _comparable(loaded.config) == _comparable(model.config)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, atol=0, rtol=0, msg=name)


def _comparable(config: SupremeConfig) -> dict:
    """The config without what loading legitimately fills in (the folder's path, the text tower's loaded dtype)."""
    values = config.to_dict()
    values.pop("_name_or_path")
    values["text_config"].pop("dtype")
    return values


def test_batching_is_equivalent_to_one_ecg_at_a_time(model):
    inputs = _inputs(model, batch=4)
    with torch.no_grad():
        batched = model(**inputs).logits
        single = torch.cat(
            [model(**{**inputs, "ecg_values": inputs["ecg_values"][i : i + 1]}).logits for i in range(4)]
        )
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_training_with_gradient_checkpointing_gives_the_same_gradients(model):
    assert model.supports_gradient_checkpointing
    inputs = _inputs(model)
    labels = (torch.arange(12).reshape(3, 4) % 3 == 0).float()
    model.train()

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        model(**inputs, labels=labels).loss.backward()
        return {
            name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None
        }

    # BatchNorm running statistics move on every training forward (and again in a recompute): compare from one state.
    state = {name: value.clone() for name, value in model.state_dict().items()}
    plain = gradients()
    model.load_state_dict(state)
    model.gradient_checkpointing_enable()  # the deprecated alias users call; it calls the new one
    checkpointed_blocks = [module for module in model.modules() if getattr(module, "gradient_checkpointing", False)]
    assert any(type(module).__name__ == "SupremeFusionLayer" for module in checkpointed_blocks)
    assert any(type(module).__name__ in ("ResNet1dBasicBlock", "ViT1dBlock") for module in checkpointed_blocks)
    recomputed, feed_forward = [0], model.fusion.layers[0].feed_forward
    original_forward = feed_forward.forward

    def counting_forward(hidden: torch.Tensor) -> torch.Tensor:  # module hooks do not fire in a recompute
        recomputed[0] += 1
        return original_forward(hidden)

    feed_forward.forward = counting_forward
    checkpointed = gradients()
    assert recomputed[0] == 2  # forward, then the recompute in backward
    assert plain.keys() == checkpointed.keys() and plain
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-5, rtol=1e-4, msg=name)
    model.gradient_checkpointing_disable()
    assert not any(getattr(module, "gradient_checkpointing", False) for module in model.modules())


def test_input_embeddings_are_the_text_towers_and_can_be_resized(model):
    embeddings = model.get_input_embeddings()
    assert embeddings is model.text_model.embeddings.word_embeddings
    replacement = torch.nn.Embedding(embeddings.num_embeddings, embeddings.embedding_dim)
    model.set_input_embeddings(replacement)
    assert model.text_model.get_input_embeddings() is replacement
    vocab_size = embeddings.num_embeddings
    model.resize_token_embeddings(vocab_size + 8)
    assert model.get_input_embeddings().num_embeddings == vocab_size + 8
    input_ids = torch.full((1, 3), vocab_size + 7)
    with torch.no_grad():
        assert model(ecg_values=_inputs(model)["ecg_values"], input_ids=input_ids).logits.shape == (3, 1)


def test_no_split_modules_name_the_residual_blocks(model):
    assert {"ResNet1dBasicBlock", "ViT1dBlock", "SupremeFusionLayer"} <= set(model._no_split_modules)
    assert "BertLayer" in model._no_split_modules  # post_init collects the text tower's own


@pytest.mark.parametrize("text_trainable_layers", [0, 1])
def test_from_pretrained_restores_the_frozen_text_tower(tmp_path, text_trainable_layers):
    """A reported failure: all 103 text-tower tensors came back with requires_grad=True after loading."""
    model = SupremeModel(tiny_config(text_trainable_layers=text_trainable_layers))
    model.save_pretrained(tmp_path)
    loaded = SupremeModel.from_pretrained(tmp_path)
    assert loaded.num_parameters(only_trainable=True) == model.num_parameters(only_trainable=True)
    trainable = {name for name, parameter in loaded.named_parameters() if parameter.requires_grad}
    assert trainable == {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert any(name.startswith("text_model") for name in trainable) == bool(text_trainable_layers)
    assert not loaded.text_model.training or text_trainable_layers  # a frozen tower runs without dropout


def test_torch_compile_fullgraph(model):
    inputs = _inputs(model)
    with torch.no_grad():
        expected = model(**inputs).logits
        embeds = model.encode_text(inputs["input_ids"], inputs["attention_mask"])
        compiled = torch.compile(model, fullgraph=True, backend="eager")
        got = compiled(ecg_values=inputs["ecg_values"], label_embeds=embeds).logits
        got_from_tokens = compiled(**inputs).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_from_tokens, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_torch_export(model):
    inputs = _inputs(model)
    with torch.no_grad():
        embeds = model.encode_text(inputs["input_ids"], inputs["attention_mask"])
        expected = model(ecg_values=inputs["ecg_values"], label_embeds=embeds).logits
    program = torch.export.export(model, (), {"ecg_values": inputs["ecg_values"], "label_embeds": embeds})
    got = program.module()(ecg_values=inputs["ecg_values"], label_embeds=embeds)
    torch.testing.assert_close(got.logits if hasattr(got, "logits") else got[0], expected, atol=1e-5, rtol=1e-5)
