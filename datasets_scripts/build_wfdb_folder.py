"""Build a Hub-ready dataset from your own WFDB records and a CSV with the columns `record, report[, split]`
(`record` = path of the record relative to --root, with or without .hea).

    python datasets_scripts/build_wfdb_folder.py --root my_ecgs/ --csv my_ecgs/reports.csv --out outputs/my-ecgs
"""

from modeling_supreme.dataset_builders.build_arguments import (
    builder_parser,
    finish,
    settings_from_args,
    window_from_args,
)
from modeling_supreme.dataset_builders.signals import SignalWindow
from modeling_supreme.dataset_builders.wfdb_folder import build_wfdb_folder


def main() -> None:
    parser = builder_parser(__doc__, "folder of WFDB records", SignalWindow(seconds=10.0))
    parser.add_argument("--csv", required=True, help="CSV with columns record, report and optionally split")
    parser.add_argument(
        "--sampling-rate", type=int, help="rate of the dataset in Hz (default: that of the first listed record)"
    )
    parser.add_argument("--name", default="ECG dataset", help="title of the dataset card")
    args = parser.parse_args()
    summary = build_wfdb_folder(
        args.root, args.csv, args.out, window_from_args(args), args.sampling_rate, args.name, settings_from_args(args)
    )
    finish(summary, args)


if __name__ == "__main__":
    main()
