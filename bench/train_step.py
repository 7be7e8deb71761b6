"""Cost of a SuPreME training step against a MERL-style (`objective="clip"`) step on the same backbone, batch and
data, and the data-loading time per batch (dataset rows -> model inputs by the collator) against the step time.

Both objectives are measured in the same run, interleaved repetition by repetition, on the same pre-collated
batches; loading is timed through the training DataLoader (collator included, `--num-workers` as in training).

    python bench/train_step.py --dataset outputs/ptbxl-100-entities [--model-preset resnet1d18 --sampling-rate 500 ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from modeling_supreme.training import SupremeCollator, TrainingOptions, build_model, build_processor, load_splits, resolve_vocabulary
from modeling_supreme.training.data import formatted_for_collation
from modeling_supreme.training.model_factory import count_parameters

OBJECTIVES = ("supreme", "clip")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="built dataset with `entities` and `report` columns")
    parser.add_argument("--model-preset", default="resnet1d_small")
    parser.add_argument("--text-encoder", help="default: all-MiniLM-L6-v2 (offline)")
    parser.add_argument("--sampling-rate", type=int, default=100)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--fusion-dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--batches", type=int, default=4, help="distinct batches cycled through")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per objective")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per objective")
    return parser.parse_args()


def options_for(args: argparse.Namespace, objective: str) -> TrainingOptions:
    model = {"objective": objective, "sampling_rate": args.sampling_rate, "num_samples": args.num_samples,
             "fusion_dim": args.fusion_dim, "embed_dim": args.fusion_dim, "fusion_heads": 4, "fusion_layers": 1,
             "fusion_ffn_dim": 2 * args.fusion_dim}
    return TrainingOptions(
        dataset=args.dataset, output_dir="unused", model_preset=args.model_preset, model_config=model,
        text_encoder=args.text_encoder, batch_size=args.batch_size,
    )


def make_step(model: torch.nn.Module, label_inputs: dict[str, torch.Tensor]) -> Callable[[dict[str, torch.Tensor]], float]:
    """One optimisation step as the trainer does it (forward, backward, clipping, AdamW); -> loss."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step(batch: dict[str, torch.Tensor]) -> float:
        loss = model(**batch, **label_inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach().item()

    return step


def time_loading(loader: DataLoader, count: int) -> list[float]:
    """Seconds per batch fetched from the DataLoader (rows read, ECGs preprocessed, targets and tokens built)."""
    times, iterator = [], iter(loader)
    for _ in range(count):
        started = time.perf_counter()
        try:
            next(iterator)
        except StopIteration:
            iterator = iter(loader)
            next(iterator)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    train = load_splits(args.dataset)["train"]
    vocabulary = resolve_vocabulary(options_for(args, "supreme"), train)
    processor = build_processor(options_for(args, "supreme"))
    steps, batches, loaders = {}, {}, {}
    for objective in OBJECTIVES:
        collator = SupremeCollator(processor, vocabulary, with_reports=objective != "supreme")
        loaders[objective] = DataLoader(formatted_for_collation(train), batch_size=args.batch_size, shuffle=True,
                                        drop_last=True, collate_fn=collator, num_workers=args.num_workers)
        batches[objective] = [batch for batch, _ in zip(loaders[objective], range(args.batches))]
        model = build_model(options_for(args, objective), vocabulary)
        label_tokens = processor.tokenize_labels(model.config.label_texts)
        label_inputs = {"input_ids": label_tokens["input_ids"], "attention_mask": label_tokens["attention_mask"]}
        steps[objective] = make_step(model, label_inputs)
        trainable, total = count_parameters(model)
        print(f"{objective:8s} model: {total / 1e6:.2f} M parameters, {trainable / 1e6:.2f} M trainable")
    for objective in OBJECTIVES:
        for index in range(args.warmup):
            steps[objective](batches[objective][index % args.batches])
    step_times: dict[str, list[float]] = {objective: [] for objective in OBJECTIVES}
    for repeat in range(args.repeats):
        for objective in OBJECTIVES:
            batch = batches[objective][repeat % args.batches]
            started = time.perf_counter()
            steps[objective](batch)
            step_times[objective].append(time.perf_counter() - started)
    load_times = {objective: time_loading(loaders[objective], args.repeats) for objective in OBJECTIVES}

    step = {objective: statistics.median(times) for objective, times in step_times.items()}
    load = {objective: statistics.median(times) for objective, times in load_times.items()}
    print(f"batch: {args.batch_size} ECGs x 12 leads x {args.num_samples} samples ({args.sampling_rate} Hz), "
          f"backbone {args.model_preset}, {len(vocabulary)} labels; medians of {args.repeats} steps, {torch.get_num_threads()} threads")
    for objective in OBJECTIVES:
        print(f"  {objective:8s} training step {1000 * step[objective]:8.1f} ms   data loading per batch "
              f"{1000 * load[objective]:7.1f} ms   loading / step = {load[objective] / step[objective]:.3f}")
    print(f"  SuPreME step / MERL-style (clip) step = {step['supreme'] / step['clip']:.2f}")


if __name__ == "__main__":
    main()
