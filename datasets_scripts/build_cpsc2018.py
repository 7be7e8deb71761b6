r"""Build CPSC2018 (PhysioNet/CinC layout: .hea + .mat, #Dx: SNOMED CT codes) as a Hub-ready dataset with the
benchmark's 9 label columns; --splits reproduces the benchmark's train/val/test membership.

    python datasets_scripts/build_cpsc2018.py --root cpsc2018/ --splits \
        --out outputs/cpsc2018
    ... --merl-protocol   # MERL's zero-shot protocol: first 2.5 s zero-padded to 5 s
"""

from modeling_supreme.dataset_builders.build_arguments import (
    add_splits_argument,
    builder_parser,
    finish,
    settings_from_args,
    splits_from_args,
    window_from_args,
)
from modeling_supreme.dataset_builders.physionet_cinc import DEFAULT_WINDOWS, MERL_CPSC_WINDOW, build_cinc


def main() -> None:
    parser = builder_parser(
        __doc__, "folder holding the CPSC2018 records (searched recursively)", DEFAULT_WINDOWS["cpsc2018"]
    )
    add_splits_argument(parser, "icbeb")
    parser.add_argument(
        "--merl-protocol",
        action="store_true",
        help="store the first 2.5 s zero-padded to 5 s (overrides --seconds/--crop-seconds/--min-seconds)",
    )
    args = parser.parse_args()
    window = MERL_CPSC_WINDOW if args.merl_protocol else window_from_args(args)
    splits = splits_from_args(args, "icbeb")
    finish(build_cinc("cpsc2018", args.root, args.out, splits, window, settings_from_args(args)), args)


if __name__ == "__main__":
    main()
