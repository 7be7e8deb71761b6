r"""Explain a zero-shot score: draw a label's cross-attention over time on the 12-lead ECG (PNG).

    python eval/explain.py --model path/or/hub-id \
        --record "$(python -m modeling_supreme.data_sources ptbxl-sample --rates 500)/records500/00000/00001_hr" \
        --label "atrial fibrillation" --out afib.png
    python eval/explain.py --model ... --record ... --task ptbxl_rhythm --label AFIB --out afib.png

With --task, --label names a benchmark column and its description from the project's label descriptions (or
--prompts) is the text encoded; otherwise the label itself (or --description) is encoded.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    parser.add_argument("--record", required=True, help="WFDB record path (with or without extension)")
    parser.add_argument("--label", required=True, help="label text, or a benchmark column with --task")
    parser.add_argument("--description", help="text to encode for the label (default: the label)")
    parser.add_argument("--task", help="benchmark task whose column --label names (e.g. ptbxl_rhythm)")
    parser.add_argument("--prompts", help="JSON {task: {column: description}} used with --task")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--device", default=None, help="e.g. cuda:0 (default: CPU)")
    parser.add_argument("--trust-remote-code", action="store_true", help="load a Hub model's own code")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from transformers import pipeline

    import modeling_supreme  # noqa: F401  (registers the ecg-zero-shot pipeline)
    from modeling_supreme.evaluation.explain import explain, plot_explanation
    from modeling_supreme.evaluation.scoring import label_texts_for, load_label_descriptions

    description = args.description
    if args.task and description is None:
        [description] = label_texts_for(load_label_descriptions(args.prompts), args.task, [args.label])
    classifier = pipeline(
        "ecg-zero-shot", model=args.model, device=args.device, trust_remote_code=args.trust_remote_code
    )
    explanation = explain(classifier, args.record, args.label, description)
    path = plot_explanation(explanation, args.out)
    peak = explanation.attention_per_sample().argmax() / explanation.sampling_rate
    print(f"{explanation.label} (text: {explanation.text!r}): score {explanation.score:.4f}")
    print(f"attention peaks at {peak:.2f} s")
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
