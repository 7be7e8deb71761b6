"""Many candidate labels through the pipeline (label texts encoded and scored in chunks) against one unchunked
`model(ecg_values, input_ids=<all label tokens>)` call, on a real 500 Hz PTB-XL record.

Each path runs in a fresh child process, so that its peak resident memory (ru_maxrss) is its own; both children
load the same saved checkpoint (ResNet-small + the packaged all-MiniLM-L6-v2 text tower, random ECG weights: speed
and memory only). Labels are distinct two- and three-word phrases from a small ECG vocabulary.
Usage: python bench/label_encoding.py [--labels 10000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from modeling_supreme.data_sources import ptbxl_folder

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORD = "records500/00000/00001_hr"  # PTB-XL's first record at 500 Hz, found by the data resolver
WORDS = (
    "sinus rhythm atrial fibrillation flutter left right bundle branch block anterior inferior lateral septal "
    "myocardial infarction ischemia ventricular hypertrophy axis deviation premature complex bradycardia "
    "tachycardia first degree av low voltage prolonged pr interval st elevation depression t wave"
).split()

CHILD = r"""
import json, resource, sys, time
import torch
from transformers import pipeline
import modeling_supreme
from modeling_supreme import read_ecg
folder, mode, labels_file, record = sys.argv[1:5]
labels = json.load(open(labels_file))
classifier = pipeline("ecg-zero-shot", model=folder)
ecg = read_ecg(record)
start = time.perf_counter()
if mode == "pipeline":
    result = classifier(ecg, candidate_labels=labels)
else:
    inputs = classifier.feature_extractor(ecg, return_tensors="pt")
    tokens = classifier.tokenizer(labels, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        logits = classifier.model(ecg_values=inputs["ecg_values"], lead_mask=inputs["lead_mask"],
                                  input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).logits
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def label_texts(count: int) -> list[str]:
    phrases = (" ".join(words) for size in (2, 3) for words in itertools.permutations(WORDS, size))
    labels = list(itertools.islice(phrases, count))
    if len(labels) < count:
        raise ValueError(f"only {len(labels)} distinct phrases can be made; ask for fewer --labels")
    return labels


def run_child(folder: str, mode: str, labels_file: str) -> dict[str, float]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, folder, mode, labels_file, str(ptbxl_folder([1], (500,)) / RECORD)],
        env=env,
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise RuntimeError(f"the {mode} child failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=10000)
    args = parser.parse_args()
    from modeling_supreme import SupremeModel, SupremeProcessor

    with tempfile.TemporaryDirectory() as folder:
        SupremeModel.from_text_pretrained(ecg_encoder="resnet1d_small").save_pretrained(folder)
        SupremeProcessor.from_text_pretrained(sampling_rate=500, num_samples=5000).save_pretrained(folder)
        labels_file = str(Path(folder) / "labels.json")
        Path(labels_file).write_text(json.dumps(label_texts(args.labels)))
        baseline = run_child(folder, "one-batch", labels_file)
        chunked = run_child(folder, "pipeline", labels_file)
    print(f"{args.labels} labels, one real 500 Hz PTB-XL record (00001_hr), ResNet-small + all-MiniLM-L6-v2")
    print(f"{'path':34s} {'seconds':>8s} {'peak RSS MB':>12s} {'time ratio':>11s} {'memory ratio':>13s}")
    for name, row in (("one unchunked model(...) call", baseline), ("pipeline (chunked, cached)", chunked)):
        print(
            f"{name:34s} {row['seconds']:8.2f} {row['max_rss_mb']:12.0f} {row['seconds'] / baseline['seconds']:11.2f} "
            f"{row['max_rss_mb'] / baseline['max_rss_mb']:13.2f}"
        )


if __name__ == "__main__":
    main()
