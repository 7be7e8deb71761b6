"""A web page for the zero-shot model (`python app.py --model FOLDER`): upload an ECG or pick an example, type the
findings, see the scores, the twelve leads with where the model looked, and the record's metadata.

`uploads` reads what is uploaded, `findings` parses the findings box, `analysis` scores a request (no web framework:
unit-tested directly), `page` is the Gradio layout (the optional `[app]` extra).
"""

from .analysis import ALL_LEADS, LEAD_SET_CHOICES, PageAnswer, PageResult, answer, score_record
from .findings import default_findings, parse_findings
from .uploads import MAX_UPLOAD_BYTES, example_records, read_uploaded_ecg

__all__ = [
    "ALL_LEADS",
    "LEAD_SET_CHOICES",
    "MAX_UPLOAD_BYTES",
    "PageAnswer",
    "PageResult",
    "answer",
    "default_findings",
    "example_records",
    "parse_findings",
    "read_uploaded_ecg",
    "score_record",
]
