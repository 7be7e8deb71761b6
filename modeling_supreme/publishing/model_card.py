"""Model cards: the one template and the one builder (`build_model_card`) of every card the package writes.

A card has `model-index` metadata (one entry per evaluated task), intended use, data, an evaluation section (a table
with intervals and the benchmark's known defects, or a training run's validation figure), limitations and citation.

```python
>>> card = model_card_from_results(load_results("results/zero-shot"), card_info_for(model, "me/supreme-resnet18"))
>>> card.save("model-folder/README.md")
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..evaluation.benchmark_tasks import TASKS, VARIANT_TASKS

SUPREME_CITATION = """@inproceedings{cai2025supreme,
  title     = {{SuPreME}: A Supervised Pre-training Framework for Multimodal {ECG} Representation Learning},
  author    = {Cai, Mingsheng and Jiang, Jiuming and Huang, Wenhao and Liu, Che and Arcucci, Rossella},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2025},
  year      = {2025},
  note      = {arXiv:2502.19668}
}"""

MERL_CITATION = """@inproceedings{liu2024merl,
  title     = {Zero-Shot {ECG} Classification with Multimodal Learning and Test-time Clinical Knowledge Enhancement},
  author    = {Liu, Che and Wan, Zhongwei and Ouyang, Cheng and Shah, Anand and Bai, Wenjia and Arcucci, Rossella},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2024}
}"""

# Hub-style dataset ids of the benchmark's sources (model-index `dataset.type`).
DATASET_TYPES = {"ptbxl": "ptb-xl", "cpsc2018": "cpsc2018", "csn": "chapman-shaoxing-ningbo"}

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ description }}

## How to use

```python
from transformers import pipeline

classifier = pipeline("ecg-zero-shot", model="{{ repo_id }}", trust_remote_code=True)
classifier("path/to/wfdb/record", candidate_labels=["atrial fibrillation", "left bundle branch block", "normal ecg"])
# [{'label': ..., 'score': ...}, ...]  independent sigmoid probabilities, highest first
```

With the `modeling_supreme` package installed, `trust_remote_code` is not needed. Inputs: WFDB record paths,
arrays `(leads, samples)` with `sampling_rate=` (and `lead_names=`), or dicts; the processor reorders leads,
resamples to {{ sampling_rate }} Hz and crops / pads to {{ seconds }} s. `return_attention=True` also returns each
label's attention over time.

## Intended use

Research on ECG representation learning and zero-shot ECG classification: ranking ECGs by how strongly they show
a finding described in text, screening a labelled dataset for a new label, or as a pre-trained encoder for linear
probing and fine-tuning. **Not a medical device**: the scores are not calibrated diagnoses and must not be used
for clinical decisions about patients.

## Training data

{{ training_data }}

## Evaluation

{{ evaluation }}

## Limitations

{{ limitations }}

## Citation

```bibtex
{{ citation }}
```
"""


@dataclasses.dataclass(frozen=True)
class CardInfo:
    """What the card says beyond the evaluation results.

    Attributes:
        repo_id: the Hub repository (used in the usage example).
        title: card title.
        description: what the model is (architecture, objective).
        training_data: where the weights come from.
        license: Hub license id of the weights.
        datasets: Hub ids of training datasets (card metadata).
        sampling_rate, seconds: the model's input (for the usage notes).
        extra_limitations: further limitation bullet points.
    """

    repo_id: str
    title: str = "SuPreME ECG model"
    description: str = (
        "A [SuPreME](https://arxiv.org/abs/2502.19668) model: an ECG encoder and a text encoder joined by a "
        "Cardiac Fusion Network that scores any label given as text against a 12-lead ECG."
    )
    training_data: str = "Not recorded with this card."
    license: str | None = None
    datasets: tuple[str, ...] = ()
    sampling_rate: int = 500
    seconds: float = 10.0
    extra_limitations: tuple[str, ...] = ()


def describe_model(config: Any) -> str:
    """One paragraph on a `SupremeConfig`: encoders, fusion network, objective, labels."""
    text_name = getattr(config.text_config, "_name_or_path", "") or config.text_config.model_type
    labels = len(getattr(config, "id2label", {}) or {})
    return (
        "A [SuPreME](https://arxiv.org/abs/2502.19668) model (supervised multimodal ECG pre-training): ECG encoder "
        f"`{config.ecg_encoder}` on {config.num_leads}-lead ECGs of {config.num_samples} samples at "
        f"{config.sampling_rate} Hz, text encoder `{text_name}` ({config.text_config.hidden_size}-d), and a "
        f"{config.fusion_layers}-layer Cardiac Fusion Network (width {config.fusion_dim}) whose label-text queries "
        "cross-attend to the ECG tokens; a label's score does not depend on the other labels asked. "
        f"Objective: `{config.objective}`. Built-in label vocabulary: {labels} labels."
    )


def card_info_for(model: Any, repo_id: str, **fields: Any) -> CardInfo:
    """`CardInfo` with the model's description and input format read from its config; `fields` override."""
    config = model.config
    defaults = {
        "repo_id": repo_id,
        "description": describe_model(config),
        "sampling_rate": int(config.sampling_rate),
        "seconds": config.num_samples / config.sampling_rate,
    }
    return CardInfo(**{**defaults, **fields})


def _evaluated(results: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(name, task) for name, task in results["tasks"].items() if task.get("status") == "evaluated"]


def eval_results(results: Mapping[str, Any]) -> list[EvalResult]:
    """model-index entries: one AUROC per evaluated task of a `results.json`."""
    entries = []
    for name, task in _evaluated(results):
        spec = {**TASKS, **VARIANT_TASKS}.get(name)
        entries.append(
            EvalResult(
                task_type="zero-shot-classification" if results.get("protocol") == "zero-shot" else "other",
                task_name=f"{results.get('protocol', 'evaluation')} ECG classification",
                dataset_type=DATASET_TYPES.get(spec.source, name) if spec else name,
                dataset_name=task.get("title", name),
                dataset_config=name,
                dataset_split="test",
                metric_type="roc_auc",
                metric_name="macro AUROC x100",
                metric_value=task["auroc"],
                metric_config=f"95% bootstrap CI {task['ci95'][0]}-{task['ci95'][1]}",
            )
        )
    return entries


def evaluation_section(results: Mapping[str, Any]) -> str:
    """Markdown: protocol, one row per task (AUROC, CI, records), the mean, skipped tasks and the tables' notes."""
    lines = [
        f"Protocol: **{results.get('protocol', 'evaluation')}**. {results.get('metric', '')}",
        "",
        "| Task | AUROC | 95 % CI | Test records used (of the benchmark's) | Labels |",
        "| --- | ---: | :---: | ---: | ---: |",
    ]
    for name, task in results["tasks"].items():
        if task.get("status") == "evaluated":
            lines.append(
                f"| {task.get('title', name)} | {task['auroc']:.2f} | {task['ci95'][0]:.2f}-{task['ci95'][1]:.2f} | "
                f"{task.get('n_records')} of {task.get('benchmark_test_rows')} | {task.get('n_labels')} |"
            )
        else:
            lines.append(f"| {task.get('title', name)} | not evaluated ({task.get('reason', 'skipped')}) | | | |")
    if results.get("mean_auroc") is not None:
        lines.append(f"| **Mean over evaluated tasks** | **{results['mean_auroc']:.2f}** | | | |")
    notes = list(dict.fromkeys(note for _, task in _evaluated(results) for note in task.get("notes", [])))
    if notes:
        lines += ["", "Known properties of the benchmark tables (results are reported on the tables as published):", ""]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def limitations(results: Mapping[str, Any], extra: Sequence[str] = ()) -> str:
    """Markdown bullet list: partial evaluations, skipped tasks, and what zero-shot scores can and cannot say."""
    items = list(extra)
    partial = [
        f"{task.get('title', name)} ({task.get('n_records')} of {task.get('benchmark_test_rows')} records)"
        for name, task in _evaluated(results)
        if not task.get("full_benchmark")
    ]
    if partial:
        items.append(
            "Evaluated on part of the published test tables only: " + ", ".join(partial) + "; these numbers are not "
            "comparable with full-benchmark results."
        )
    skipped = [task.get("title", name) for name, task in results["tasks"].items() if task.get("status") != "evaluated"]
    if skipped:
        items.append("Not evaluated on: " + ", ".join(skipped) + "; the mean AUROC covers the evaluated tasks only.")
    undefined = sum(len(task.get("undefined_labels", [])) for _, task in _evaluated(results))
    if undefined:
        items.append(f"{undefined} label columns had a single class in the test records used and have no AUROC.")
    items += [
        "Zero-shot scores depend on the wording of the label text; the descriptions used are listed in the evaluation "
        "results. Scores are independent sigmoid probabilities, not calibrated risks.",
        "Labels mined from machine-generated or cardiologist reports inherit their errors; rare findings are weakly "
        "supervised.",
        "Performance on devices, populations, lead layouts and sampling rates unlike the training data is unknown.",
    ]
    return "\n".join(f"- {item}" for item in items)


def build_model_card(
    info: CardInfo, evaluation: str, results: Mapping[str, Any] | None = None
) -> ModelCard:
    """The card of a model: `info` fills the template, `evaluation` is its evaluation section (markdown), and the
    `model-index` and limitations come from `results` (a `results.json`, see `reporting`) when there are any."""
    results = results if results is not None else {"tasks": {}}
    card_data = ModelCardData(
        language="en",
        license=info.license,
        library_name="transformers",
        tags=["ecg", "electrocardiogram", "zero-shot", "supreme", "medical", "time-series", "custom_code"],
        datasets=list(info.datasets) or None,
        model_name=info.repo_id,
        eval_results=eval_results(results) or None,
    )
    return ModelCard.from_template(
        card_data,
        template_str=TEMPLATE,
        title=info.title,
        description=info.description,
        repo_id=info.repo_id,
        sampling_rate=info.sampling_rate,
        seconds=f"{info.seconds:g}",
        training_data=info.training_data,
        evaluation=evaluation,
        limitations=limitations(results, info.extra_limitations),
        citation=f"{SUPREME_CITATION}\n\n{MERL_CITATION}",
    )


def model_card_from_results(results: Mapping[str, Any], info: CardInfo) -> ModelCard:
    """A model card whose `model-index` and evaluation section come from a `results.json` (see `reporting`)."""
    return build_model_card(info, evaluation_section(results), results)


__all__ = [
    "CardInfo",
    "DATASET_TYPES",
    "build_model_card",
    "card_info_for",
    "describe_model",
    "eval_results",
    "evaluation_section",
    "limitations",
    "model_card_from_results",
]
