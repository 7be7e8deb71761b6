"""The page's ECG view: the 12 leads drawn once per record as a transparent PNG (matplotlib), with a finding's
cross-attention laid under them in HTML (a CSS gradient, one band per ECG token) and its colour bar beside them.

Drawing and encoding the leads is most of the cost of the view; the attention is the only part that changes from one
finding to the next, so a click on another finding sends a few hundred bytes of colours with the same image, and a
new answer on the same record (other findings, same leads) reuses the image (`LeadsImageCache`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
from collections import OrderedDict
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..evaluation.explain import Explanation, draw_leads_stacked

# Inches and dots per inch of the leads' image: 960 x 600 pixels, sharp enough on a screen and quick to encode.
FIGURE_SIZE = (12, 7.5)
FIGURE_DPI = 80
# Where the leads' axes lie in the image (fractions): the attention is laid exactly under them, the colour bar in
# the right margin.
MARGINS = {"left": 0.06, "right": 0.9, "top": 0.98, "bottom": 0.08}
# As `explain.draw_explanation_stacked` shades the attention: the "Reds" colour map at 60 % over white.
COLOR_MAP = "Reds"
SHADING_ALPHA = 0.6
COLOR_BAR_STOPS = 11


def leads_figure(explanation: Explanation) -> Figure:
    """The 12 leads of `explanation` as the model saw them (`draw_leads_stacked`), `FIGURE_SIZE` at `FIGURE_DPI`,
    axes at `MARGINS`, nothing behind them."""
    return draw_leads_stacked(explanation.signal, explanation.lead_mask, explanation.sampling_rate,
                              figsize=FIGURE_SIZE, dpi=FIGURE_DPI, margins=MARGINS)


def leads_png(explanation: Explanation) -> bytes:
    """`leads_figure` as a PNG with a transparent background."""
    figure = leads_figure(explanation)
    with io.BytesIO() as output:
        # Compression level 1: drawn and encoded in 0.12 s against 0.15 s at PIL's default 6, for 72 KB against 59 KB
        # (PTB-XL 00001_hr, loaded 2-core machine).
        figure.savefig(output, format="png", transparent=True, pil_kwargs={"compress_level": 1})
        return output.getvalue()


class LeadsImageCache:
    """The leads' PNG (as a data URI) of the last few ECGs, by the content of the ECG as the model saw it, so that new
    findings on the same record, or another finding of the same answer, are not drawn again."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._images: OrderedDict[str, str] = OrderedDict()

    def data_uri(self, explanation: Explanation) -> str:
        key = _view_key(explanation)
        if key in self._images:
            self._images.move_to_end(key)
        else:
            encoded = base64.b64encode(leads_png(explanation)).decode("ascii")
            self._images[key] = f"data:image/png;base64,{encoded}"
            while len(self._images) > self.size:
                self._images.popitem(last=False)
        return self._images[key]


def _view_key(explanation: Explanation) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for array in (explanation.signal, explanation.lead_mask):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((explanation.signal.shape, explanation.sampling_rate)).encode())
    return digest.hexdigest()


def shading_colors(values: np.ndarray, lowest: float, highest: float) -> list[str]:
    """`values` on `COLOR_MAP` between `lowest` (white end) and `highest` (red end), at `SHADING_ALPHA` over white,
    as CSS hex colours."""
    scaled = (np.asarray(values, dtype=np.float64) - lowest) / max(highest - lowest, 1e-12)
    rgb = matplotlib.colormaps[COLOR_MAP](np.clip(scaled, 0.0, 1.0))[:, :3]
    blended = SHADING_ALPHA * rgb + (1.0 - SHADING_ALPHA)
    return ["#%02x%02x%02x" % tuple(channel) for channel in np.rint(blended * 255).astype(int)]


def _gradient(direction: str, colors: Sequence[str], hard: bool) -> str:
    """A CSS linear gradient: one band per colour (`hard`), or a smooth ramp through them."""
    if not hard:
        return f"linear-gradient({direction}, {', '.join(colors)})"
    width = 100.0 / len(colors)
    bands = (f"{color} {index * width:.4f}% {(index + 1) * width:.4f}%" for index, color in enumerate(colors))
    return f"linear-gradient({direction}, {', '.join(bands)})"


def _box_style(left: float, right: float, top: float, bottom: float) -> str:
    """Absolute position of a box by its edges, in fractions of the image measured from its left and top."""
    return (f"position:absolute;left:{100 * left:.3f}%;width:{100 * (right - left):.3f}%;"
            f"top:{100 * top:.3f}%;height:{100 * (bottom - top):.3f}%")


def ecg_view_html(explanation: Explanation, title: Sequence[str], leads_uri: str) -> str:
    """The ECG view of one finding: `title` (lines), the leads' image `leads_uri` (`LeadsImageCache.data_uri`) over
    the finding's attention (token n of N shaded over [n/N, (n+1)/N) of the window, white at the least attended token
    and red at the most, one scale for all leads as the attention is shared by them), and the colour bar."""
    attention = np.asarray(explanation.attention, dtype=np.float64)
    lowest, highest = float(attention.min()), float(attention.max())
    axes_top, axes_bottom = 1.0 - MARGINS["top"], 1.0 - MARGINS["bottom"]
    bar_left = MARGINS["right"] + 0.015
    band = _gradient("to right", shading_colors(attention, lowest, highest), hard=True)
    ramp = _gradient("to top", shading_colors(np.linspace(lowest, highest, COLOR_BAR_STOPS), lowest, highest),
                     hard=False)
    lines = "<br>".join(html.escape(line) for line in title)
    label_style = f"position:absolute;left:{100 * (bar_left + 0.02):.3f}%;font-size:11px;color:#333"
    return (
        f'<div class="ecg-view"><div class="ecg-title" style="text-align:center;font-size:13px">{lines}</div>'
        '<div style="position:relative;background:#fff">'
        f'<div class="ecg-attention" style="{_box_style(MARGINS["left"], MARGINS["right"], axes_top, axes_bottom)};'
        f'background:{band}"></div>'
        f'<img src="{leads_uri}" alt="the 12 leads as the model saw them" '
        'style="position:relative;display:block;width:100%;height:auto">'
        f'<div class="ecg-colorbar" style="{_box_style(bar_left, bar_left + 0.015, axes_top, axes_bottom)};'
        f'background:{ramp};border:1px solid #999"></div>'
        f'<div style="{label_style};top:{100 * axes_top:.3f}%">{highest:.3g}</div>'
        f'<div style="{label_style};top:{100 * axes_bottom:.3f}%;transform:translateY(-100%)">{lowest:.3g}</div>'
        f'<div style="{label_style};top:50%;transform:translateY(-50%)">attention<br>over<br>time</div>'
        "</div></div>"
    )


__all__ = ["LeadsImageCache", "ecg_view_html", "leads_figure", "leads_png", "shading_colors"]
