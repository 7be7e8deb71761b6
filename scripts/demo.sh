#!/usr/bin/env bash
# The first command of the README. On a fresh machine: sets up .venv, builds a dataset from the bundled real PTB-XL
# sample, extracts entities from its reports with the lexicon, pre-trains a small SuPreME on folds 1-8 on CPU,
# evaluates it zero-shot on folds 9-10 with the five super-class queries, runs the ecg-zero-shot pipeline on one
# record, and writes demo-output/summary.json and demo-output/demo.png. About 2-3 minutes on 2 CPU cores once
# pip has the packages (130 s measured from a fresh clone), plus the downloads on a first install. The PTB-XL records
# come from SUPREME_DATA_DIR when it names a local copy, else from the cache or PhysioNet (docs/data.md).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
source scripts/setup_venv.sh
echo "[demo] environment ready after $((SECONDS - started)) s"

OUT=demo-output
DATA="$OUT/data"
# Before the offline switches below: the sample may have to be downloaded (verified, then cached).
PTBXL=$(python -m modeling_supreme.data_sources ptbxl-sample)
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "[demo] 1/4 building a dataset from $PTBXL (400 real PTB-XL records, 100 Hz)"
python datasets_scripts/build_ptbxl.py --root "$PTBXL" --out "$DATA/ptbxl-100" --sampling-rate 100 \
    --overwrite --log-level WARNING

echo "[demo] 2/4 extracting entities from the reports with the lexicon"
python datasets_scripts/extract_entities.py --dataset "$DATA/ptbxl-100" --extractor lexicon --out "$DATA/ptbxl-100-entities"

echo "[demo] 3/4 pre-training a small SuPreME on folds 1-8 (configs/demo.yaml)"
rm -rf "$OUT/run"
# accelerate launch would otherwise limit the process to one CPU thread
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
    --num_cpu_threads_per_process "$(nproc)" train_accelerate.py --config configs/demo.yaml

echo "[demo] 4/4 zero-shot evaluation on folds 9-10 and one record through the pipeline"
python -m modeling_supreme.demo --model "$OUT/run/model" --dataset "$DATA/ptbxl-100-entities" \
    --record "$PTBXL/records100/00000/00063_lr" --out "$OUT"

echo "[demo] finished in $((SECONDS - started)) s"
