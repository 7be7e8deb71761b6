"""What the page computes for one request, without any web framework: read the ECG (upload or example), keep only
the chosen lead set, score the findings with the `ecg-zero-shot` pipeline (one call, with each finding's
cross-attention), and describe the record. Every error a bad input raises becomes a message for the page.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np

from ..configuration_supreme import STANDARD_LEADS
from ..evaluation.explain import Explanation, model_view
from ..leads_supreme import canonical_lead_name, select_lead_set
from ..reading_supreme import EcgRecord
from .findings import parse_findings
from .uploads import parse_lead_names, read_example, read_uploaded_ecg

logger = logging.getLogger(__name__)

ALL_LEADS = "all"
# (shown, value) pairs of the lead-set choice; values are `leads_supreme` lead-set names.
LEAD_SET_CHOICES: tuple[tuple[str, str], ...] = (
    ("all leads of the record", ALL_LEADS),
    ("six limb leads (I, II, III, aVR, aVL, aVF)", "6"),
    *((f"single lead {name}", name) for name in STANDARD_LEADS),
)
# Loggers whose warnings (leads masked or dropped, checksum mismatches...) are shown with the result.
NOTED_LOGGER = "modeling_supreme"
# Errors that bad input raises in the reader, the feature extractor and the pipeline.
INPUT_ERRORS = (ValueError, TypeError, FileNotFoundError, OSError)


@dataclasses.dataclass
class PageResult:
    """One ECG scored against the findings.

    Attributes:
        scores: [{"label", "score"}] highest first.
        explanations: label -> its score, cross-attention (N,) and the ECG as the model saw it (12, T) in mV.
        metadata: what the page shows about the record, in display order.
        notes: warnings raised while the ECG was read and scored.
        seconds: time the pipeline call took.
    """

    scores: list[dict[str, Any]]
    explanations: dict[str, Explanation]
    metadata: dict[str, str]
    notes: list[str]
    seconds: float


@dataclasses.dataclass
class PageAnswer:
    """What the page shows after a request: a result, or the message of the error that stopped it."""

    result: Optional[PageResult] = None
    error: Optional[str] = None


def reduce_to_lead_set(record: EcgRecord, lead_set: str) -> EcgRecord:
    """The record with only the leads of `lead_set` ("6", "II", ...; `ALL_LEADS` keeps it whole), removed before the
    feature extractor as a device recording only those leads would give it (`leads_supreme.select_lead_set`)."""
    if lead_set == ALL_LEADS:
        return record
    signal, names = select_lead_set(record.signal, record.lead_names, lead_set, record.source)
    return EcgRecord(signal=signal, sampling_rate=record.sampling_rate, lead_names=list(names), source=record.source)


@contextmanager
def noted_warnings(logger_name: str = NOTED_LOGGER) -> Iterator[list[str]]:
    """Collect the messages of warnings logged under `logger_name` while the block runs."""
    notes: list[str] = []

    class _Collector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    collector = _Collector(logging.WARNING)
    watched = logging.getLogger(logger_name)
    watched.addHandler(collector)
    try:
        yield notes
    finally:
        watched.removeHandler(collector)


def score_record(
    classifier: Any, record: EcgRecord, findings: Mapping[str, Sequence[str]], lead_set: str = ALL_LEADS,
    comments: Optional[Mapping[str, str]] = None,
) -> PageResult:
    """Score `findings` ({label: [descriptions]}) on `record` reduced to `lead_set`, in one pipeline call.

    Raises:
        ValueError (and the other `INPUT_ERRORS`): as the pipeline raises them for bad input.
    """
    with noted_warnings() as notes:
        reduced = reduce_to_lead_set(record, lead_set)
        started = time.perf_counter()
        results = classifier(reduced, candidate_labels={name: list(texts) for name, texts in findings.items()},
                             return_attention=True)
        seconds = time.perf_counter() - started
        signal, lead_mask = model_view(classifier.feature_extractor, reduced)
    rate = float(classifier.feature_extractor.sampling_rate)
    explanations = {
        result["label"]: Explanation(
            label=result["label"], text=" | ".join(findings[result["label"]]), score=float(result["score"]),
            attention=np.asarray(result["attention"], dtype=np.float64), signal=signal, lead_mask=lead_mask,
            sampling_rate=rate, source=record.source,
        )
        for result in results
    }
    scores = [{"label": result["label"], "score": float(result["score"])} for result in results]
    metadata = record_metadata(record, reduced, lead_mask, lead_set, comments or {})
    metadata["scores"] = f"{getattr(classifier, 'score_kind', 'probability')}, pipeline call {seconds:.3f} s"
    return PageResult(scores, explanations, metadata, list(dict.fromkeys(notes)), seconds)


def lead_status(recorded_names: Sequence[str], lead_mask: np.ndarray) -> dict[str, str]:
    """Standard lead -> "recorded", "derived" (from two limb leads), "masked" (recorded but unusable) or "missing"."""
    recorded = {canonical_lead_name(name) for name in recorded_names} - {None}
    status = {}
    for lead, usable in zip(STANDARD_LEADS, lead_mask):
        if lead in recorded:
            status[lead] = "recorded" if usable else "masked"
        else:
            status[lead] = "derived" if usable else "missing"
    return status


def record_metadata(
    record: EcgRecord, reduced: EcgRecord, lead_mask: np.ndarray, lead_set: str, comments: Mapping[str, str]
) -> dict[str, str]:
    """What the page says about a record: its source, rate, length, leads (as recorded, as given to the model) and
    its header's comments."""
    samples = record.signal.shape[1]
    status = lead_status(reduced.lead_names, lead_mask)
    by_status = {kind: [lead for lead, value in status.items() if value == kind]
                 for kind in ("recorded", "derived", "masked", "missing")}
    metadata = {
        "record": record.source,
        "sampling rate": f"{record.sampling_rate:g} Hz",
        "duration": f"{samples / record.sampling_rate:.2f} s ({samples} samples)",
        "leads in the file": ", ".join(record.lead_names),
        "lead set": _lead_set_title(lead_set),
        **{f"leads {kind}": ", ".join(leads) for kind, leads in by_status.items() if leads},
    }
    metadata.update({f"header: {key}": value for key, value in comments.items()})
    return metadata


def _lead_set_title(lead_set: str) -> str:
    return next((shown for shown, value in LEAD_SET_CHOICES if value == lead_set), lead_set)


def answer(
    classifier: Any,
    findings_text: str,
    files: Optional[Sequence[str | os.PathLike]] = None,
    example: Optional[str | os.PathLike] = None,
    sampling_rate: Optional[float] = None,
    lead_names_text: Optional[str] = None,
    lead_set: str = ALL_LEADS,
) -> PageAnswer:
    """One request of the page: uploaded `files` (or else the `example` record path) scored against the findings.

    Never raises for bad input: the error's message is returned for the page to show. An unexpected error is logged
    with its traceback and shown as a one-line message.
    """
    try:
        findings = parse_findings(findings_text or "")
        if files:
            record, comments = read_uploaded_ecg(files, sampling_rate, parse_lead_names(lead_names_text))
        elif example:
            record, comments = read_example(example)
        else:
            raise ValueError("No ECG: upload a record or choose an example.")
        return PageAnswer(result=score_record(classifier, record, findings, lead_set, comments))
    except INPUT_ERRORS as error:
        return PageAnswer(error=str(error) or type(error).__name__)
    except Exception as error:  # a bug, not bad input: the page still answers, the log keeps the traceback
        logger.exception("The page failed on a request")
        return PageAnswer(error=f"Internal error ({type(error).__name__}: {error}); the server log has the details.")


def load_classifier(name_or_path: str | os.PathLike, device: Optional[str] = None,
                    trust_remote_code: bool = False) -> Any:
    """The `ecg-zero-shot` pipeline of a checkpoint (folder or Hub id), built in-process from the model and its
    processor, so that this package's code scores it (a checkpoint's own code only with `trust_remote_code`)."""
    from ..evaluation.scoring import load_model_and_processor
    from ..pipeline_ecg_zero_shot import EcgZeroShotPipeline

    model, processor = load_model_and_processor(name_or_path, device, trust_remote_code)
    return EcgZeroShotPipeline(model=model, processor=processor, device=model.device)


__all__ = [
    "ALL_LEADS",
    "LEAD_SET_CHOICES",
    "PageAnswer",
    "PageResult",
    "answer",
    "lead_status",
    "load_classifier",
    "record_metadata",
    "reduce_to_lead_set",
    "score_record",
]
