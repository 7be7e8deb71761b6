"""Where the bundled real data lie, for every test module (a leaf module: helpers and conftest import it)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
PTBXL_DIR = DATA_DIR / "ptbxl-sample"
SPLITS_DIR = DATA_DIR / "benchmark-splits"


def ptbxl_record(ecg_id: int, rate: int = 100) -> Path:
    """Path (without extension) of a bundled PTB-XL record; 500 Hz exists for ecg_id 1-40."""
    folder, suffix = ("records100", "lr") if rate == 100 else ("records500", "hr")
    return PTBXL_DIR / folder / f"{(ecg_id // 1000) * 1000:05d}" / f"{ecg_id:05d}_{suffix}"


def script_command(script: str, *arguments: object) -> list[str]:
    """The command that runs one of the project's scripts (`script` relative to the repository root) with this
    interpreter; arguments are turned into text (paths, numbers)."""
    return [sys.executable, script, *map(str, arguments)]
