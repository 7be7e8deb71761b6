"""Build MIMIC-IV-ECG with its machine reports as a Hub-ready dataset (Parquet shards + card), streamed record
by record; re-run the same command after an interruption to resume from the last finished shard.

    python datasets_scripts/build_mimic_iv_ecg.py --root mimic-iv-ecg/1.0 --out outputs/mimic-iv-ecg --num-proc 16
"""

from modeling_supreme.dataset_builders.cli import builder_parser, finish, settings_from_args
from modeling_supreme.dataset_builders.mimic_iv_ecg import build_mimic_iv_ecg


def main() -> None:
    parser = builder_parser(__doc__, "MIMIC-IV-ECG folder (record_list.csv, machine_measurements.csv, files/)")
    args = parser.parse_args()
    finish(build_mimic_iv_ecg(args.root, args.out, settings_from_args(args)), args)


if __name__ == "__main__":
    main()
