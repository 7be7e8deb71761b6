"""Pipeline throughput against a bare batched `model(...)` call, on the same real PTB-XL records.

Rows (ECGs per second, and the ratio to the bare forward measured in the same run):
  bare forward       : preprocessed `ecg_values` and label embeddings encoded once, batched `model(...)` under
                       `torch.no_grad()`
  pipeline, arrays   : `pipeline(list_of_arrays, sampling_rate=500, ...)`: no file reading, light preprocessing
                       (the arrays are already at the model's rate and lead order)
  pipeline, records  : `pipeline(list_of_record_paths, ...)`: WFDB reading and full preprocessing included

Runs are interleaved (bare, arrays, records, bare, ...) and the best of `--repeats` is kept, so that load from
other processes affects all rows alike. Usage: python bench/pipeline_overhead.py [--model standard|small]
[--batch-size 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import pipeline

from modeling_supreme import SupremeConfig, SupremeFeatureExtractor, SupremeModel, SupremeProcessor, read_ecg
from modeling_supreme.data_sources import ptbxl_folder, record_files

REPO_ROOT = Path(__file__).resolve().parents[1]
ECG_IDS_500HZ = range(1, 41)
LABELS = ["normal ecg", "myocardial infarction", "ST/T change", "conduction disturbance", "hypertrophy"]


def build_checkpoint(folder: Path, preset: str) -> None:
    """A randomly initialised model of the requested size with the packaged MiniLM tokenizer (speed only)."""
    config = SupremeConfig() if preset == "standard" else SupremeConfig(ecg_encoder="resnet1d_small")
    processor = SupremeProcessor.from_text_pretrained(
        sampling_rate=config.sampling_rate, num_samples=config.num_samples
    )
    SupremeModel(config).save_pretrained(folder)
    processor.save_pretrained(folder)


def time_call(function, repeats_done: list[float]) -> None:
    start = time.perf_counter()
    function()
    repeats_done.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["standard", "small"], default="standard")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        build_checkpoint(Path(folder), args.model)
        classifier = pipeline("ecg-zero-shot", model=folder)
        model = classifier.model.eval()
        feature_extractor: SupremeFeatureExtractor = classifier.feature_extractor

        folder = ptbxl_folder(ECG_IDS_500HZ, (500,))
        paths = [str(folder / name.removesuffix(".hea")) for name in record_files(ECG_IDS_500HZ, (500,))[::2]]
        records = [read_ecg(path) for path in paths]
        arrays = [record.signal for record in records]
        prepared = feature_extractor(records)
        tokens = classifier.tokenizer(LABELS, padding=True, return_tensors="pt")
        with torch.no_grad():  # the model is stateless: a bare caller encodes its label texts once itself
            label_embeds = model.encode_text(tokens["input_ids"], tokens["attention_mask"])
        n = len(paths)

        def bare() -> None:
            with torch.no_grad():
                for start in range(0, n, args.batch_size):
                    model(
                        ecg_values=prepared["ecg_values"][start : start + args.batch_size],
                        lead_mask=prepared["lead_mask"][start : start + args.batch_size],
                        label_embeds=label_embeds,
                    )

        def from_arrays() -> None:
            classifier(arrays, sampling_rate=500, lead_names=records[0].lead_names, candidate_labels=LABELS,
                       batch_size=args.batch_size)

        def from_records() -> None:
            classifier(paths, candidate_labels=LABELS, batch_size=args.batch_size)

        rows = {"bare forward": (bare, []), "pipeline, arrays (no I/O)": (from_arrays, []),
                "pipeline, records (I/O + preprocessing)": (from_records, [])}
        for function, _ in rows.values():
            function()  # warm-up: allocator, label-embedding cache, tokenizer cache
        for _ in range(args.repeats):
            for function, durations in rows.values():
                time_call(function, durations)

    bare_rate = n / min(rows["bare forward"][1])
    print(f"model={args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters), {n} real "
          f"500 Hz PTB-XL records, batch_size={args.batch_size}, {len(LABELS)} labels, "
          f"torch threads={torch.get_num_threads()}")
    print(f"{'path':42s} {'ECG/s':>8s} {'ratio to bare':>14s}")
    for name, (_, durations) in rows.items():
        rate = n / min(durations)
        print(f"{name:42s} {rate:8.1f} {rate / bare_rate:14.2f}")


if __name__ == "__main__":
    main()
