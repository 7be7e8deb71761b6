# Sourced by scripts/test.sh and scripts/demo.sh: create or reuse .venv and install the package.
# torch is installed first and pinned to the CPU wheel only when no torch is importable, so that
# a user who installed a CUDA build of torch keeps it.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
source .venv/bin/activate
if ! python -c "import torch" >/dev/null 2>&1; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet torch==2.13.0
fi
python -m pip install --quiet -e ".[dev]"  # dev pulls the train, eval and llm extras
