r"""Build Chapman-Shaoxing-Ningbo (PhysioNet/CinC layout: WFDBRecords/NN/NNN/JS*.hea + .mat, #Dx: SNOMED CT codes)
as a Hub-ready dataset with the benchmark's 38 label columns (exact code match); --splits reproduces the
benchmark's train/val/test membership.

    python datasets_scripts/build_csn.py --root ecg-arrhythmia/WFDBRecords --splits \
        --out outputs/csn
"""

from modeling_supreme.dataset_builders.build_arguments import (
    add_splits_argument,
    builder_parser,
    finish,
    settings_from_args,
    splits_from_args,
    window_from_args,
)
from modeling_supreme.dataset_builders.physionet_cinc import DEFAULT_WINDOWS, build_cinc


def main() -> None:
    parser = builder_parser(__doc__, "folder holding the CSN records (searched recursively)", DEFAULT_WINDOWS["csn"])
    add_splits_argument(parser, "chapman")
    args = parser.parse_args()
    splits = splits_from_args(args, "chapman")
    finish(build_cinc("csn", args.root, args.out, splits, window_from_args(args), settings_from_args(args)), args)


if __name__ == "__main__":
    main()
