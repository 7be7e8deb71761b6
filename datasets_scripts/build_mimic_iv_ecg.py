"""Build MIMIC-IV-ECG with its machine reports as a Hub-ready dataset (Parquet shards + card), streamed record
by record; re-run the same command after an interruption to resume from the last finished shard.

    python datasets_scripts/build_mimic_iv_ecg.py --root mimic-iv-ecg/1.0 --out outputs/mimic-iv-ecg --num-proc 16
"""

import argparse

from modeling_supreme.dataset_builders.cli import add_build_arguments, finish, settings_from_args
from modeling_supreme.dataset_builders.mimic_iv_ecg import build_mimic_iv_ecg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", required=True, help="MIMIC-IV-ECG folder (record_list.csv, machine_measurements.csv, files/)"
    )
    add_build_arguments(parser)
    args = parser.parse_args()
    finish(build_mimic_iv_ecg(args.root, args.out, settings_from_args(args)), args)


if __name__ == "__main__":
    main()
