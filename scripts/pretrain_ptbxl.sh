#!/usr/bin/env bash
# Pre-train SuPreME on one or more PTB-XL folders with configs/ptbxl.yaml, on CPU:
#   bash scripts/pretrain_ptbxl.sh OUT_DIR ROOT [ROOT ...] [-- TRAIN_FLAGS ...]
# e.g. bash scripts/pretrain_ptbxl.sh ptbxl-output "$SUPREME_DATA_DIR/ptbxl-sample" "$SUPREME_DATA_DIR/ptbxl-more"
# Builds one dataset of the roots (each ecg_id once), extracts entities with the lexicon, pre-trains, and writes the
# model folder OUT_DIR/model (with its model card). Progress bars show each stage. Run the same command again after
# an interruption: the build resumes its finished shards, entities are kept once written, and training continues
# from its newest checkpoint. Flags after `--` go to train_accelerate.py (e.g. -- --max-steps 20 --seed 1).
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: bash scripts/pretrain_ptbxl.sh OUT_DIR ROOT [ROOT ...] [-- TRAIN_FLAGS ...]" >&2
    exit 2
fi
OUT=$1
shift
ROOTS=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    ROOTS+=(--root "$1")
    shift
done
[ "${1:-}" = "--" ] && shift
cd "$(dirname "$0")/.."
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
export TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
started=$SECONDS
DATA="$OUT/data"

echo "[ptbxl] 1/3 building one dataset of ${ROOTS[*]} (100 Hz)"
python datasets_scripts/build_ptbxl.py "${ROOTS[@]}" --out "$DATA/ptbxl-100" --sampling-rate 100 --log-level WARNING

echo "[ptbxl] 2/3 extracting entities from the reports with the lexicon"
if [ ! -f "$DATA/ptbxl-100-entities/README.md" ]; then
    rm -rf "$DATA/ptbxl-100-entities.partial"
    python datasets_scripts/extract_entities.py --dataset "$DATA/ptbxl-100" --extractor lexicon \
        --out "$DATA/ptbxl-100-entities.partial"
    mv "$DATA/ptbxl-100-entities.partial" "$DATA/ptbxl-100-entities"
else
    echo "[ptbxl]     kept $DATA/ptbxl-100-entities"
fi

echo "[ptbxl] 3/3 pre-training with configs/ptbxl.yaml into $OUT (model folder: $OUT/model)"
RESUME=()
if compgen -G "$OUT/checkpoints/*" > /dev/null; then
    RESUME=(--resume)
    echo "[ptbxl]     resuming from the newest checkpoint under $OUT/checkpoints"
fi
# accelerate launch would otherwise limit the process to one CPU thread
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
    --num_cpu_threads_per_process "${SUPREME_CPU_THREADS:-$(nproc)}" train_accelerate.py --config configs/ptbxl.yaml \
    --dataset "$DATA/ptbxl-100-entities" --output-dir "$OUT" "${RESUME[@]}" "$@"
echo "[ptbxl] finished in $((SECONDS - started)) s: $OUT/model"
