"""Explanations: where in time the fusion network looked when scoring a label, drawn on the 12-lead ECG.

The `ecg-zero-shot` pipeline returns, with `return_attention=True`, each label's cross-attention over the N ECG
tokens (last fusion layer, mean over heads); token n covers model samples [n*T/N, (n+1)*T/N). `explain` runs the
pipeline for one label and pairs that attention with the ECG as the model saw it (same leads, rate and window, in mV);
`plot_explanation` draws it.

```python
>>> classifier = pipeline("ecg-zero-shot", model="path/or/hub-id")
>>> explanation = explain(classifier, "records500/00000/00001_hr", "atrial fibrillation")
>>> plot_explanation(explanation, "afib.png")
```
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..configuration_supreme import STANDARD_LEADS
from ..feature_extraction_supreme import SupremeFeatureExtractor
from ..reading_supreme import EcgRecord, read_ecg


@dataclasses.dataclass(frozen=True)
class Explanation:
    """One label's score and attention for one ECG.

    Attributes:
        label: the label as asked.
        text: the text the model encoded for it.
        score: sigmoid probability.
        attention: (N,) attention over the ECG tokens, sums to 1.
        signal: (12, T) the model's view of the ECG in mV (standard lead order, model rate and window, no
            normalisation); zero where a lead is missing.
        lead_mask: (12,) False for missing leads.
        sampling_rate: Hz of `signal`.
        source: where the ECG came from.
    """

    label: str
    text: str
    score: float
    attention: np.ndarray
    signal: np.ndarray
    lead_mask: np.ndarray
    sampling_rate: float
    source: str

    def attention_per_sample(self) -> np.ndarray:
        """(T,) the attention of the token covering each sample (token n covers [n*T/N, (n+1)*T/N))."""
        return attention_per_sample(self.attention, self.signal.shape[1])


def attention_per_sample(attention: np.ndarray, num_samples: int) -> np.ndarray:
    """Spread attention over N tokens (N,) onto `num_samples` samples (T,): sample t gets token floor(t*N/T)."""
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim != 1 or attention.size == 0:
        raise ValueError(f"attention must have shape (N,); got {attention.shape}")
    tokens = (np.arange(num_samples) * attention.size) // num_samples
    return attention[tokens]


def _as_record(ecg: Any, sampling_rate: float | None, lead_names: Sequence[str] | None) -> EcgRecord:
    if isinstance(ecg, (str, os.PathLike)):
        return read_ecg(ecg)
    if isinstance(ecg, EcgRecord):
        return ecg
    if sampling_rate is None:
        raise ValueError(
            "An ECG array needs sampling_rate= (and lead_names= unless its rows are the 12 standard leads)"
        )
    signal = np.asarray(ecg, dtype=np.float32)
    return EcgRecord(signal, float(sampling_rate), list(lead_names or STANDARD_LEADS), f"array {signal.shape}")


def model_view(feature_extractor: SupremeFeatureExtractor, record: EcgRecord) -> tuple[np.ndarray, np.ndarray]:
    """The ECG as the model sees it but in mV: the feature extractor's lead order, resampling, filtering and window,
    without normalisation. -> signal (12, T), lead_mask (12,)."""
    settings = {**feature_extractor.to_dict(), "normalization": "none"}
    unnormalised = SupremeFeatureExtractor(**{key: value for key, value in settings.items() if not key.startswith("_")})
    features = unnormalised(record, return_tensors="np")
    return features["ecg_values"][0], features["lead_mask"][0]


def explain(
    classifier: Any,
    ecg: Any,
    label: str,
    description: str | None = None,
    sampling_rate: float | None = None,
    lead_names: Sequence[str] | None = None,
) -> Explanation:
    """Score one label for one ECG with an `ecg-zero-shot` pipeline and keep its attention over time.

    Args:
        classifier: `pipeline("ecg-zero-shot", ...)`.
        ecg: a WFDB record path, an `EcgRecord`, or an array (leads, samples) with `sampling_rate`.
        label: the label name; it is also the text encoded unless `description` is given.
        description: text to encode for the label.
        sampling_rate, lead_names: for array input.
    """
    record = _as_record(ecg, sampling_rate, lead_names)
    text = description or label
    [result] = classifier(record, candidate_labels={label: text}, return_attention=True)
    signal, lead_mask = model_view(classifier.feature_extractor, record)
    return Explanation(
        label=label,
        text=text,
        score=float(result["score"]),
        attention=np.asarray(result["attention"], dtype=np.float64),
        signal=signal,
        lead_mask=lead_mask,
        sampling_rate=float(classifier.feature_extractor.sampling_rate),
        source=record.source,
    )


def draw_explanation(
    explanation: Explanation, title: str | None = None, figsize: tuple[float, float] = (15, 11)
) -> Figure:
    """The 12 leads (6 x 2 grid, mV over seconds) with the label's attention shaded behind them, from white
    (least attended token) to red (most attended); one colour scale for all leads, as the attention is shared by
    the leads. Missing leads are marked "lead missing". Returns the figure (nothing is written)."""
    duration = explanation.signal.shape[1] / explanation.sampling_rate
    time = np.arange(explanation.signal.shape[1]) / explanation.sampling_rate
    per_sample = explanation.attention_per_sample()[None, :]
    lowest, highest = float(per_sample.min()), float(per_sample.max())
    highest = max(highest, lowest + 1e-12)
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(6, 2, sharex=True).T.ravel()
    shading = None
    for lead, axis in enumerate(axes):
        values = explanation.signal[lead]
        low, high = (values.min(), values.max()) if explanation.lead_mask[lead] else (-1.0, 1.0)
        margin = 0.1 * max(high - low, 0.1)
        shading = axis.imshow(
            per_sample,
            extent=(0, duration, low - margin, high + margin),
            aspect="auto",
            cmap="Reds",
            vmin=lowest,
            vmax=highest,
            alpha=0.6,
            interpolation="nearest",
        )
        if explanation.lead_mask[lead]:
            axis.plot(time, values, color="black", linewidth=0.6)
        else:
            axis.text(duration / 2, 0, "lead missing", ha="center", va="center", color="grey")
        axis.set_ylim(low - margin, high + margin)
        axis.set_ylabel(f"{STANDARD_LEADS[lead]} (mV)", fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in (axes[5], axes[11]):
        axis.set_xlabel("time (s)")
    figure.colorbar(shading, ax=list(axes), shrink=0.6, label="attention of the label over time")
    figure.suptitle(
        title
        or f'{explanation.label}: score {explanation.score:.3f} (text: "{explanation.text}")\n{explanation.source}',
        fontsize=11,
    )
    return figure


# Where `draw_leads_stacked` puts its axes in the figure (fractions of its width and height), with room above for a
# title and on the right for a colour bar.
STACKED_MARGINS = {"left": 0.06, "right": 0.92, "top": 0.88, "bottom": 0.07}


def draw_leads_stacked(
    signal: np.ndarray, lead_mask: np.ndarray, sampling_rate: float, figsize: tuple[float, float] = (12, 8),
    lead_spacing_mv: float = 3.0, dpi: float = 100, margins: Mapping[str, float] = STACKED_MARGINS,
) -> Figure:
    """The 12 leads of `signal` (12, T) in mV stacked on one time axis, `lead_spacing_mv` apart, "missing" written
    where `lead_mask` (12,) is False; nothing behind them (the axes are transparent), so that the attention can be
    laid under them, here (`draw_explanation_stacked`) or by a web page. One axes, placed at `margins`."""
    duration = signal.shape[1] / sampling_rate
    time = np.arange(signal.shape[1]) / sampling_rate
    offsets = -lead_spacing_mv * np.arange(len(STANDARD_LEADS))
    figure = Figure(figsize=figsize, dpi=dpi)
    figure.subplots_adjust(**margins)
    axis = figure.add_subplot()
    axis.patch.set_visible(False)
    for lead, offset in enumerate(offsets):
        if lead_mask[lead]:
            axis.plot(time, signal[lead] + offset, color="black", linewidth=0.6)
        else:
            axis.text(duration / 2, offset, "missing", ha="center", va="center", color="grey")
    axis.set_yticks(offsets, labels=list(STANDARD_LEADS), fontsize=8)
    axis.set(xlim=(0, duration), ylim=(offsets[-1] - lead_spacing_mv / 2, lead_spacing_mv / 2), xlabel="time (s)")
    return figure


def draw_explanation_stacked(
    explanation: Explanation, title: str | None = None, figsize: tuple[float, float] = (12, 8),
    lead_spacing_mv: float = 3.0, dpi: float = 100,
) -> Figure:
    """The 12 leads stacked on one time axis (`draw_leads_stacked`) over the label's attention, shaded from white to
    red as in `draw_explanation`. One axes and a fixed layout: about ten times faster to draw than the 6 x 2 grid."""
    figure = draw_leads_stacked(explanation.signal, explanation.lead_mask, explanation.sampling_rate, figsize,
                                lead_spacing_mv, dpi)
    axis = figure.axes[0]
    duration = explanation.signal.shape[1] / explanation.sampling_rate
    # One token per image column: token n covers [n * T / N, (n + 1) * T / N) of the window, as the samples do.
    shading = axis.imshow(explanation.attention[None, :], extent=(0, duration, *axis.get_ylim()), aspect="auto",
                          cmap="Reds", alpha=0.6, interpolation="nearest", zorder=0)
    figure.colorbar(shading, ax=axis, fraction=0.03, pad=0.01, label="attention of the label over time")
    figure.suptitle(
        title
        or f'{explanation.label}: score {explanation.score:.3f} (text: "{explanation.text}")\n{explanation.source}',
        fontsize=10,
    )
    return figure


def plot_explanation(explanation: Explanation, path: str | Path, title: str | None = None) -> Path:
    """Draw an explanation (`draw_explanation`) and write it as a PNG."""
    path = Path(path)
    draw_explanation(explanation, title).savefig(path, dpi=100)
    return path


__all__ = [
    "STACKED_MARGINS",
    "Explanation",
    "attention_per_sample",
    "draw_explanation",
    "draw_explanation_stacked",
    "draw_leads_stacked",
    "explain",
    "model_view",
    "plot_explanation",
]
