"""Build PTB-XL as a Hub-ready dataset (Parquet shards + card): train/validation/test by strat_fold 1-8/9/10.

python datasets_scripts/build_ptbxl.py [--root PTBXL_FOLDER] --out outputs/ptbxl-100 [--sampling-rate 500]
python datasets_scripts/build_ptbxl.py --root ptbxl-sample --root ptbxl-more --out outputs/ptbxl-3361 \
    --split-folds train=1-7,validation=8   # one dataset of two folders; choose on fold 8, leave 9-10 out

Without --root: PTB-XL's first 400 records at the chosen rate, from SUPREME_DATA_DIR, the cache or a download from
PhysioNet (see docs/data.md). With several: each ecg_id is built once, from the first root that lists it; a later
root's listing is recorded in rejects.jsonl (a duplicate when its signal file is the same, a conflict naming both
roots when it differs).
"""

from modeling_supreme.data_sources import DataSourceError, ptbxl_folder
from modeling_supreme.dataset_builders.build_arguments import builder_parser, finish, settings_from_args
from modeling_supreme.dataset_builders.ptbxl import SAMPLING_RATES, SPLIT_FOLDS, build_ptbxl, parse_split_folds

DEFAULT_SPLIT_FOLDS = ",".join(f"{name}={'+'.join(map(str, folds))}" for name, folds in SPLIT_FOLDS.items())


def main() -> None:
    parser = builder_parser(
        __doc__, "PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/); default: the sample",
        root_required=False, several_roots=True,
    )
    parser.add_argument("--sampling-rate", type=int, choices=sorted(SAMPLING_RATES), default=100)
    parser.add_argument(
        "--split-folds", default=DEFAULT_SPLIT_FOLDS,
        help=f"split name -> strat_folds, e.g. train=1-7,validation=8,test=9-10 (default {DEFAULT_SPLIT_FOLDS})",
    )
    args = parser.parse_args()
    try:
        split_folds = parse_split_folds(args.split_folds)
    except ValueError as error:
        parser.error(f"--split-folds: {error}")
    if args.root is None:
        try:
            args.root = [ptbxl_folder(rates=(args.sampling_rate,))]
        except DataSourceError as error:
            raise SystemExit(f"error: {error}") from None
    try:
        summary = build_ptbxl(args.root, args.out, args.sampling_rate, settings_from_args(args), split_folds)
    except ValueError as error:
        parser.exit(2, f"build_ptbxl.py: error: {error}\n")
    finish(summary, args)


if __name__ == "__main__":
    main()
