"""The Gradio page around `analysis.answer`: inputs on the left, scores, the 12-lead plot with the chosen finding's
cross-attention and the record's metadata on the right, under a banner saying this is a research model.

Gradio is imported inside the functions: it is an optional extra (`pip install modeling-supreme[app]`), and where it
keeps uploads (`GRADIO_TEMP_DIR`) must be set before it is imported (`serve` does that).
"""

# No `from __future__ import annotations` here: gradio finds the `gr.SelectData` argument of an event handler by its
# annotation, which must then be a class, not a string naming a module-local import.
import html
import logging
import os
import signal
import tempfile
from collections.abc import Mapping
from typing import Any, Optional

from .analysis import ALL_LEADS, LEAD_SET_CHOICES, PageAnswer, PageResult, answer
from .ecg_view import LeadsImageCache, ecg_view_html
from .uploads import MAX_UPLOAD_BYTES, example_records

logger = logging.getLogger(__name__)

TITLE = "SuPreME zero-shot ECG findings"
WARNING_BANNER = (
    "**Research model, not a diagnostic device.** The scores come from a model trained on a small research data set; "
    "they are not validated for clinical use and must not guide the care of a patient."
)
NO_EXAMPLE = "(none: use the upload)"
UPLOAD_TYPES = [".hea", ".dat", ".mat", ".npy", ".csv"]
UPLOAD_LIFETIME_S = 3600


def scores_html(scores: list[dict[str, Any]]) -> str:
    """The scores as a table (finding, score to 4 decimals), highest first; the page's element `scores-table`."""
    rows = "".join(
        f'<tr><td class="finding">{html.escape(item["label"])}</td><td class="score">{item["score"]:.4f}</td></tr>'
        for item in scores
    )
    return f'<table id="scores-table"><tr><th>finding</th><th>score</th></tr>{rows}</table>'


def metadata_markdown(metadata: Mapping[str, str], notes: list[str]) -> str:
    """The record's metadata (and the warnings met while reading it) as a Markdown table."""
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in metadata.items()]
    lines += [f"| note | {_cell(note)} |" for note in notes]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")


def error_html(message: Optional[str]) -> str:
    """The error box (empty when there is no error); the page's element `error-box`."""
    if not message:
        return ""
    return f'<div id="error-box" role="alert"><strong>Cannot score this ECG:</strong> {html.escape(message)}</div>'


def explanation_view(result: Optional[PageResult], label: Optional[str], images: LeadsImageCache) -> str:
    """The 12 leads with `label`'s cross-attention shaded behind them, as HTML (empty without a result or label); the
    leads' image comes from `images`, drawn once per ECG."""
    if result is None or not label or label not in result.explanations:
        return ""
    explanation = result.explanations[label]
    title = (f'{label}: score {explanation.score:.4f} (text: "{explanation.text}")',
             f"{explanation.source}, {result.metadata.get('lead set', '')}; red: where the model looked for this "
             "finding")
    return ecg_view_html(explanation, title, images.data_uri(explanation))


def page_outputs(reply: PageAnswer, images: LeadsImageCache) -> tuple[Any, ...]:
    """(error html, bar values, scores html, finding choices, ECG view html, metadata markdown, state) for one
    answer."""
    import gradio as gr

    if reply.result is None:
        return (error_html(reply.error), None, "", gr.update(choices=[], value=None), "", "", None)
    result = reply.result
    labels = [item["label"] for item in result.scores]
    bars = {item["label"]: item["score"] for item in result.scores}
    return (
        "", bars, scores_html(result.scores), gr.update(choices=labels, value=labels[0]),
        explanation_view(result, labels[0], images), metadata_markdown(result.metadata, result.notes), result,
    )


def build_page(classifier: Any, default_findings: str, model_name: str, data_dir: Optional[str] = None) -> Any:
    """The page (a `gradio.Blocks`) for one loaded `ecg-zero-shot` pipeline."""
    import gradio as gr

    examples = example_records(data_dir)
    example_choices = [NO_EXAMPLE, *examples]
    images = LeadsImageCache()

    def run(files: Any, example: str, rate: Optional[float], leads: str, lead_set: str, findings: str) -> tuple:
        paths = [_file_path(item) for item in (files or [])]
        reply = answer(classifier, findings, paths, examples.get(example), rate, leads, lead_set)
        return page_outputs(reply, images)

    def choose(result: Optional[PageResult], selected: gr.SelectData) -> tuple[Any, str]:
        return gr.update(value=selected.value), explanation_view(result, selected.value, images)

    def show(result: Optional[PageResult], label: Optional[str]) -> str:
        return explanation_view(result, label, images)

    # A long-running page removes uploads an hour old every hour; all are removed when it stops (`serve`).
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(UPLOAD_LIFETIME_S, UPLOAD_LIFETIME_S)) as page:
        gr.Markdown(f"# {TITLE}\nModel: `{model_name}`")
        gr.Markdown(WARNING_BANNER, elem_id="warning-banner")
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(label="ECG upload: a WFDB record (.hea with its .dat or .mat), a PhysioNet/CinC .mat, "
                                f"or a .npy / .csv array; at most {MAX_UPLOAD_BYTES // 2**20} MB",
                                file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload")
                example = gr.Dropdown(example_choices, value=NO_EXAMPLE, label="or an example record (PTB-XL sample)",
                                      elem_id="example")
                rate = gr.Number(label="sampling rate (Hz), for .npy / .csv / lone .mat", value=None,
                                 elem_id="sampling-rate")
                leads = gr.Textbox(label="lead names of an array, comma-separated (default: I, II, III, aVR, aVL, "
                                   "aVF, V1-V6)", elem_id="lead-names")
                lead_set = gr.Dropdown([*LEAD_SET_CHOICES], value=ALL_LEADS, label="leads given to the model",
                                       elem_id="lead-set")
                findings = gr.Textbox(default_findings, lines=10, label="findings, one per line "
                                      "(optionally 'NAME: description | other description')", elem_id="findings")
                button = gr.Button("Score", variant="primary", elem_id="score-button")
            with gr.Column(scale=2):
                error = gr.HTML("", elem_id="error")
                bars = gr.Label(label="scores (click a finding to see where the model looked)", elem_id="bars")
                table = gr.HTML("", elem_id="scores")
                finding = gr.Dropdown([], label="finding shown on the ECG", elem_id="finding")
                # The 12 leads as the model saw them under the finding's cross-attention; its title names the finding.
                plot = gr.HTML("", elem_id="ecg-plot")
                metadata = gr.Markdown("", elem_id="metadata")
        outputs = [error, bars, table, finding, plot, metadata, state]
        button.click(run, [files, example, rate, leads, lead_set, findings], outputs)
        # The answer draws the top finding; a click on a bar or a choice in the list draws another.
        bars.select(choose, [state], [finding, plot])
        finding.input(show, [state, finding], plot)
    return page


def _file_path(item: Any) -> str:
    """Gradio hands uploads as paths (or objects with `.name`, in older versions)."""
    return item if isinstance(item, str) else str(getattr(item, "path", None) or item.name)


def serve(
    classifier: Any,
    default_findings: str,
    model_name: str,
    host: str = "127.0.0.1",
    port: Optional[int] = None,
    data_dir: Optional[str] = None,
) -> None:
    """Serve the page until interrupted (Ctrl-C or SIGTERM). Uploads are kept in a temporary folder of this process,
    removed when it stops."""
    with tempfile.TemporaryDirectory(prefix="supreme-app-") as uploads:
        os.environ["GRADIO_TEMP_DIR"] = uploads  # read by gradio when it is imported
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            page = build_page(classifier, default_findings, model_name, data_dir)
            page.queue(default_concurrency_limit=1)
            logger.info("uploads are kept in %s until the page stops", uploads)
            page.launch(server_name=host, server_port=port, max_file_size=MAX_UPLOAD_BYTES, show_error=False,
                        footer_links=[], ssr_mode=False)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the page as Ctrl-C does, so that the temporary folder is removed."""
    raise KeyboardInterrupt


__all__ = [
    "build_page",
    "error_html",
    "explanation_view",
    "metadata_markdown",
    "page_outputs",
    "scores_html",
    "serve",
]
