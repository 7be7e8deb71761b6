"""How many loader workers a GPU needs: FLOPs of one SuPreME training step per ECG (counted with
`torch.utils.flop_counter` on the real model: ECG encoder, fusion network and loss, forward and backward, label
embeddings cached as the trainer does with a frozen text tower) against a GPU's sustained FLOP rate, and the measured
per-worker rate of the training loader (`bench/input_pipeline.py --json`).

    python bench/gpu_estimate.py [--loader-json bench500.json] [--gpu-tflops 400] [--epoch-ecgs 800000]

Arithmetic: GPU ECG/s = sustained FLOP/s / FLOPs per ECG; workers = GPU ECG/s / loader ECG/s per worker;
epoch time = epoch ECGs / min(GPU ECG/s, workers x loader ECG/s per worker).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from modeling_supreme import SupremeConfig, SupremeModel


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ecg-encoder", default="resnet1d18")
    parser.add_argument("--sampling-rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--labels", type=int, default=300, help="label queries per ECG (the vocabulary's size)")
    parser.add_argument("--batch-size", type=int, default=4, help="ECGs counted (FLOPs are divided by it)")
    parser.add_argument("--gpu-tflops", type=float, default=400.0,
                        help="sustained bf16 TFLOP/s of the GPU on this model (H100 SXM: ~990 dense peak; convolutions "
                             "of a 1-D ResNet sustain well under half of it)")
    parser.add_argument("--loader-json", type=Path, help="bench/input_pipeline.py --json output (per-worker rate)")
    parser.add_argument("--epoch-ecgs", type=int, default=800_000, help="ECGs per epoch (MIMIC-IV-ECG: ~800,000)")
    return parser.parse_args()


def _without_text_tower(counter: FlopCounterMode) -> int:
    """Total FLOPs less those of the text tower (frozen: its label embeddings are cached, not recomputed per step)."""
    counts = counter.get_flop_counts()
    text = sum(sum(by_op.values()) for name, by_op in counts.items() if name.endswith(".text_model"))
    return counter.get_total_flops() - text


def training_flops_per_ecg(args: argparse.Namespace) -> tuple[float, float]:
    """(training-step FLOPs, forward FLOPs) per ECG: ECG encoder, label projection, fusion network and loss; the text
    tower (frozen, label embeddings cached by the trainer) is left out."""
    config = SupremeConfig(
        ecg_encoder=args.ecg_encoder, sampling_rate=args.sampling_rate,
        num_samples=round(args.seconds * args.sampling_rate),
        text_config={"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 1, "num_attention_heads": 4,
                     "intermediate_size": 64, "vocab_size": 32},
    )
    model = SupremeModel(config)
    model.train()
    ecg = torch.randn(args.batch_size, 12, config.num_samples)
    labels = torch.randint(0, 2, (args.batch_size, args.labels)).float()
    tokens = {"input_ids": torch.randint(1, 32, (args.labels, 4)), "attention_mask": torch.ones(args.labels, 4)}
    counter = FlopCounterMode(display=False)
    with counter:
        model(ecg_values=ecg, labels=labels, **tokens)
    forward = _without_text_tower(counter)
    with counter:
        model(ecg_values=ecg, labels=labels, **tokens).loss.backward()
    return _without_text_tower(counter) / args.batch_size, forward / args.batch_size


def main() -> None:
    args = parse_args()
    step, forward = training_flops_per_ecg(args)
    gpu_rate = args.gpu_tflops * 1e12 / step
    print(f"{args.ecg_encoder} at {args.sampling_rate} Hz x {args.seconds:g} s, {args.labels} label queries: "
          f"{forward / 1e9:.2f} GFLOP forward, {step / 1e9:.2f} GFLOP per training step per ECG")
    print(f"GPU at {args.gpu_tflops:g} TFLOP/s sustained: {args.gpu_tflops:g}e12 / {step:.3g} = {gpu_rate:,.0f} ECG/s")
    if args.loader_json:
        measured = json.loads(args.loader_json.read_text())
        for where in ("device", "host"):  # where the loader leaves normalisation (`--normalize-on-device`)
            rows = [row for row in measured["rows"] if row.get("normalized_on", "host") == where]
            rates = {"per worker process": [row["loader_ecg_per_s"] / row["workers"] for row in rows
                                            if row["workers"] > 0],
                     "per core, in the main process": [row["loader_ecg_per_s"] for row in rows
                                                       if row["workers"] == 0]}
            for what, values in rates.items():
                if not values:
                    continue
                per_core = min(values)
                workers = math.ceil(gpu_rate / per_core)
                print(f"loader normalising on the {where}, {what} (measured, {measured['dataset']}): "
                      f"{per_core:,.0f} ECG/s -> {gpu_rate:,.0f} / {per_core:,.0f} = {workers} cores")
        print(f"epoch of {args.epoch_ecgs:,} ECGs when the GPU is the limit: {args.epoch_ecgs:,} / {gpu_rate:,.0f} = "
              f"{args.epoch_ecgs / gpu_rate / 60:.1f} min")


if __name__ == "__main__":
    main()
