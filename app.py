"""A web page for a SuPreME zero-shot model (runnable as a Hugging Face Space):

    pip install -e ".[app]"
    python app.py --model demo-output/run/model        # or a Hub id; default: the demo's model folder

Upload an ECG (or pick an example record), type the findings, and see their scores, the twelve leads with where the
model looked, and the record's metadata. Research use only: this is not a diagnostic device. The page's logic lives
in `modeling_supreme/ecg_app/`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional

# What `bash scripts/demo.sh` trains.
DEMO_MODEL = Path("demo-output/run/model")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help=f"checkpoint folder or Hub id (default: {DEMO_MODEL} if it exists)")
    parser.add_argument("--host", default=None, help="address to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--data-dir", default=None, help="folder of the example records, in PTB-XL's layout "
                        "(default: the data resolver's: SUPREME_DATA_DIR, the cache, or a download)")
    parser.add_argument("--device", default=None, help="e.g. cuda:0 (default: CPU)")
    parser.add_argument("--trust-remote-code", action="store_true", help="load a Hub model's own code")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the model (default: 1; one ECG per "
                        "request gains little from more, and loses much when other processes share the cores)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    model = args.model or (str(DEMO_MODEL) if DEMO_MODEL.is_dir() else None)
    if model is None:
        print(f"No model: pass --model FOLDER_OR_HUB_ID, or train the demo's model first (bash scripts/demo.sh "
              f"writes {DEMO_MODEL}).", file=sys.stderr)
        return 2
    import torch

    from modeling_supreme.ecg_app.analysis import load_classifier
    from modeling_supreme.ecg_app.findings import default_findings
    from modeling_supreme.ecg_app.page import serve

    # A parallel region waits for its slowest thread: on shared cores a second thread made the page's pipeline call
    # several times slower (docs/app.md), and one ECG is too small a batch to gain much from it.
    torch.set_num_threads(args.threads)
    try:
        classifier = load_classifier(model, args.device, args.trust_remote_code)
    except (OSError, ValueError) as error:
        print(f"Cannot load the model {model!r}: {error}", file=sys.stderr)
        return 2
    findings = default_findings(classifier.model.config)
    serve(classifier, findings, model, args.host, args.port, args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
