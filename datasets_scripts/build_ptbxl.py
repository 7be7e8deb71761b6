"""Build PTB-XL as a Hub-ready dataset (Parquet shards + card): train/validation/test by strat_fold 1-8/9/10.

python datasets_scripts/build_ptbxl.py [--root PTBXL_FOLDER] --out outputs/ptbxl-100 [--sampling-rate 500]

Without --root: PTB-XL's first 400 records at the chosen rate, from SUPREME_DATA_DIR, the cache or a download from
PhysioNet (see docs/data.md).
"""

from modeling_supreme.data_sources import DataSourceError, ptbxl_folder
from modeling_supreme.dataset_builders.cli import builder_parser, finish, settings_from_args
from modeling_supreme.dataset_builders.ptbxl import SAMPLING_RATES, build_ptbxl


def main() -> None:
    parser = builder_parser(
        __doc__, "PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/); default: the sample",
        root_required=False,
    )
    parser.add_argument("--sampling-rate", type=int, choices=sorted(SAMPLING_RATES), default=100)
    args = parser.parse_args()
    if args.root is None:
        try:
            args.root = ptbxl_folder(rates=(args.sampling_rate,))
        except DataSourceError as error:
            raise SystemExit(f"error: {error}") from None
    finish(build_ptbxl(args.root, args.out, args.sampling_rate, settings_from_args(args)), args)


if __name__ == "__main__":
    main()
