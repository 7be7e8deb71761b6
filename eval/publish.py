r"""Publish on the Hugging Face Hub.

    python eval/publish.py model --model runs/pretrain/final --results results/zero-shot --repo-id me/supreme \
        [--training-data "MIMIC-IV-ECG, 771,693 ECGs ..."] [--license other] [--dataset-id me/mimic-iv-ecg] [--private]

pushes weights, processor, code files and a model card generated from the evaluation's results.json in one commit,
so that `pipeline("ecg-zero-shot", model="me/supreme", trust_remote_code=True)` works without this package.

    python eval/publish.py dataset --folder datasets/ptbxl-500hz --repo-id me/ptbxl-500hz [--private]

pushes a dataset folder built by datasets_scripts/build_*.py with its card.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("model", help="push a model with processor, code and card")
    model.add_argument("--model", required=True, help="checkpoint folder (or Hub id) to publish")
    model.add_argument("--results", required=True, help="results.json of an evaluation (or its folder)")
    model.add_argument("--repo-id", required=True)
    model.add_argument("--training-data", help="what the weights were trained on (card section)")
    model.add_argument("--license", help="Hub license id of the weights")
    model.add_argument("--dataset-id", action="append", default=[], help="Hub id of a training dataset (repeatable)")
    model.add_argument("--staging", help="folder to assemble the upload in (default: a temporary folder)")
    model.add_argument("--private", action="store_true")
    model.add_argument("--trust-remote-code", action="store_true", help="load a Hub model's own code")
    dataset = commands.add_parser("dataset", help="push a dataset folder built by datasets_scripts/build_*.py")
    dataset.add_argument("--folder", required=True)
    dataset.add_argument("--repo-id", required=True)
    dataset.add_argument("--private", action="store_true")
    return parser.parse_args(argv)


def publish_model_command(args: argparse.Namespace) -> str:
    from modeling_supreme.evaluation.reporting import load_results
    from modeling_supreme.evaluation.run_benchmark import load_model_and_processor
    from modeling_supreme.publishing import publish_model

    results = load_results(args.results)
    model, processor = load_model_and_processor(args.model, trust_remote_code=args.trust_remote_code)
    card_fields = {"license": args.license, "datasets": tuple(args.dataset_id)}
    if args.training_data:
        card_fields["training_data"] = args.training_data
    with tempfile.TemporaryDirectory() as temporary:
        staging = args.staging or temporary
        return publish_model(
            model, processor, args.repo_id, results, staging, private=args.private or None, **card_fields
        )


def refuse_pickled_input(folder: str) -> None:
    """A local folder to publish must hold no pickle file (loading or pushing one would run its code)."""
    from modeling_supreme.pickle_files import refuse_pickle_files

    if Path(folder).is_dir():
        refuse_pickle_files(Path(folder), "publish")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        refuse_pickled_input(args.model if args.command == "model" else args.folder)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "model":
        url = publish_model_command(args)
    else:
        from modeling_supreme.dataset_builders.dataset_push import push_dataset_folder

        url = push_dataset_folder(args.folder, args.repo_id, private=args.private or None)
    print(f"Pushed to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
