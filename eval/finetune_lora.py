r"""LoRA fine-tuning (peft) of the fusion network and/or the text encoder, one adapter per task: trained on the
task's training split, epoch selected on the validation split, test split scored once.

    python eval/finetune_lora.py --model path/or/hub-id --data ptbxl=datasets/ptbxl-500hz \
        --tasks ptbxl_super --parts fusion,text --epochs 5 --out results/lora

Writes results.json / results.md / roc_curves.png into --out and each task's adapter (with the processor) into
--out/adapters/<task>/, loadable with `pipeline("ecg-zero-shot", model=<that folder>)`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from modeling_supreme.evaluation.benchmark_arguments import (
    add_benchmark_arguments,
    print_written,
    sources_from_args,
    splits_from_args,
    tasks_from_args,
)
from modeling_supreme.evaluation.benchmark_tasks import get_task
from modeling_supreme.evaluation.lora import BERT_TEXT_PATTERN, LoraSettings, add_lora, finetune_task, save_adapter
from modeling_supreme.evaluation.reporting import markdown_table, write_report
from modeling_supreme.evaluation.results import EvaluationReport, skipped
from modeling_supreme.evaluation.run_benchmark import load_model_and_processor
from modeling_supreme.evaluation.scoring import load_label_descriptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_benchmark_arguments(parser)
    defaults = LoraSettings()
    parser.add_argument("--parts", default="fusion", help="comma-separated: fusion, text")
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument("--alpha", type=int, default=defaults.alpha)
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--text-pattern", default=BERT_TEXT_PATTERN, help="regex of the text encoder modules to adapt")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument(
        "--prompts", help="JSON {task: {column: description}} replacing the project's label descriptions"
    )
    return parser.parse_args(argv)


def base_model_reference(model: str) -> str:
    """What the adapter config names as its base: an absolute path for a local folder, else the Hub id."""
    path = Path(model)
    return str(path.resolve()) if path.is_dir() else model


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = LoraSettings(
        parts=tuple(part.strip() for part in args.parts.split(",") if part.strip()),
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        text_pattern=args.text_pattern,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    descriptions = load_label_descriptions(args.prompts)
    tasks = tasks_from_args(args)
    splits = splits_from_args(args, tasks)
    results, sources = {}, None
    for name in tasks:
        model, processor = load_model_and_processor(args.model, args.device, args.trust_remote_code)
        sources = sources if sources is not None else sources_from_args(args, processor.feature_extractor.sampling_rate)
        spec = get_task(name)
        if spec.source not in sources:
            results[name] = skipped(spec, f"no {spec.source} data given")
            continue
        peft_model = add_lora(model, settings)
        results[name] = finetune_task(
            peft_model,
            processor,
            spec,
            splits,
            sources[spec.source],
            descriptions,
            settings,
            args.n_resamples,
            not args.no_progress,
        )
        if results[name].evaluated:
            folder = save_adapter(
                peft_model, processor, Path(args.out) / "adapters" / name, base_model_reference(args.model)
            )
            results[name].extra["adapter"] = str(folder)
    report = EvaluationReport(
        f"LoRA fine-tuning ({'+'.join(settings.parts)})",
        str(args.model),
        results,
        {"splits_dir": str(splits), "sources": {n: s.description for n, s in (sources or {}).items()}},
    )
    return print_written(markdown_table(report), write_report(report, args.out))


if __name__ == "__main__":
    sys.exit(main())
