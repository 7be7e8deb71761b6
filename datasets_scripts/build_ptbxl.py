"""Build PTB-XL as a Hub-ready dataset (Parquet shards + card): train/validation/test by strat_fold 1-8/9/10.

python datasets_scripts/build_ptbxl.py --root data/ptbxl-sample --out outputs/ptbxl-100 [--sampling-rate 500]
"""

from modeling_supreme.dataset_builders.cli import builder_parser, finish, settings_from_args
from modeling_supreme.dataset_builders.ptbxl import SAMPLING_RATES, build_ptbxl


def main() -> None:
    parser = builder_parser(__doc__, "PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/)")
    parser.add_argument("--sampling-rate", type=int, choices=sorted(SAMPLING_RATES), default=100)
    args = parser.parse_args()
    finish(build_ptbxl(args.root, args.out, args.sampling_rate, settings_from_args(args)), args)


if __name__ == "__main__":
    main()
