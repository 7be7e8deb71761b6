"""The web page's logic without a browser (`modeling_supreme.ecg_app`): reading uploads, the findings box, one request
scored as the pipeline scores it, lead sets removed before the feature extractor, and every bad input answered with a
message. The page in a real browser: tests/test_app_browser.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.ecg_app.analysis import ALL_LEADS, answer, lead_status, load_classifier, reduce_to_lead_set
from modeling_supreme.ecg_app.findings import default_findings, format_findings, parse_findings
from modeling_supreme.ecg_app.uploads import example_records, read_uploaded_ecg, upload_size_error
from modeling_supreme.reading_supreme import read_ecg
from tests.sample_data import PTBXL_DIR, REPO_ROOT, ptbxl_record

FINDINGS_TEXT = "atrial fibrillation\nNORM: normal ecg | sinus rhythm\n\nleft bundle branch block"
FINDINGS = {"atrial fibrillation": ["atrial fibrillation"], "NORM": ["normal ecg", "sinus rhythm"],
            "left bundle branch block": ["left bundle branch block"]}


def _record_files(record) -> list:
    return [record.with_name(record.name + ".hea"), record.with_name(record.name + ".dat")]


@pytest.fixture
def classifier(tiny_checkpoint):
    return load_classifier(tiny_checkpoint)


# -- findings --------------------------------------------------------------------------------------------------------


def test_findings_text_gives_labels_with_their_descriptions_in_order():
    assert parse_findings(FINDINGS_TEXT) == FINDINGS
    assert parse_findings("a | b") == {"a": ["a", "b"]}
    assert parse_findings(format_findings(FINDINGS)) == FINDINGS


@pytest.mark.parametrize(
    "text, problem",
    [("", "No findings"), ("  \n ", "No findings"), (": normal ecg", "line 1"), ("NORM:", "description is empty"),
     ("a\nNORM: x | ", "line 2"), ("a\nb\na", "given twice")],
)
def test_bad_findings_text_is_refused_naming_the_line(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_findings(text)


def test_too_many_findings_are_refused():
    with pytest.raises(ValueError, match="at most 3"):
        parse_findings("a\nb\nc\nd", limit=3)


def test_default_findings_are_the_first_labels_of_the_models_vocabulary(classifier):
    config = classifier.model.config
    expected = {"NORM": ["normal ecg"], "MI": ["myocardial infarction"]}
    assert parse_findings(default_findings(config, count=2)) == expected
    config.label_descriptions = {}
    assert default_findings(config) == ""


# -- uploads ---------------------------------------------------------------------------------------------------------


def test_uploaded_wfdb_record_reads_as_read_ecg_and_leaves_no_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    record = ptbxl_record(1, rate=500)
    uploaded, comments = read_uploaded_ecg(_record_files(record))
    expected = read_ecg(record)
    np.testing.assert_array_equal(uploaded.signal, expected.signal)
    assert (uploaded.sampling_rate, uploaded.lead_names, uploaded.source) == (500, expected.lead_names, "00001_hr.hea")
    assert comments == {}
    assert list(tmp_path.iterdir()) == []


def test_corrupt_wfdb_upload_names_the_uploaded_file_not_the_temporary_folder(tmp_path):
    header, data = _record_files(ptbxl_record(1, rate=500))
    shutil.copyfile(header, tmp_path / header.name)
    (tmp_path / data.name).write_bytes(data.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated") as error:
        read_uploaded_ecg([tmp_path / header.name, tmp_path / data.name])
    assert "00001_hr" in str(error.value) and "supreme-upload" not in str(error.value)
    with pytest.raises(ValueError, match="upload the .hea together with the data file"):
        read_uploaded_ecg([tmp_path / header.name])


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_npy_upload_takes_leads_as_rows_or_columns_with_the_sampling_rate_field(tmp_path, layout):
    signal = np.random.default_rng(0).normal(size=(12, 1000)).astype(np.float32)
    path = tmp_path / "ecg.npy"
    np.save(path, signal if layout == "rows" else signal.T)
    record, _ = read_uploaded_ecg([path], sampling_rate=100)
    np.testing.assert_array_equal(record.signal, signal)
    assert record.lead_names == list(STANDARD_LEADS) and record.sampling_rate == 100
    with pytest.raises(ValueError, match="sampling rate"):
        read_uploaded_ecg([path])
    with pytest.raises(ValueError, match="does not hold 3 leads"):
        read_uploaded_ecg([path], sampling_rate=100, lead_names=["I", "II", "V1"])


def test_csv_upload_with_a_header_row_names_its_leads(tmp_path):
    signal = np.arange(6 * 200, dtype=np.float32).reshape(200, 6) / 100
    path = tmp_path / "limb.csv"
    lines = ["I,II,III,aVR,aVL,aVF"] + [",".join(f"{value:g}" for value in row) for row in signal]
    path.write_text("\n".join(lines) + "\n")
    record, _ = read_uploaded_ecg([path], sampling_rate=50)
    assert record.lead_names == ["I", "II", "III", "aVR", "aVL", "aVF"]
    np.testing.assert_allclose(record.signal, signal.T)
    path.write_text("I,II\n1,2\n3,x\n")
    with pytest.raises(ValueError, match="limb.csv: a CSV cell is not a number"):
        read_uploaded_ecg([path], sampling_rate=50)


def test_lone_cinc_mat_is_read_at_1000_units_per_mv(tmp_path):
    from scipy.io import savemat

    values = np.random.default_rng(1).integers(-2000, 2000, size=(12, 500)).astype(np.int16)
    path = tmp_path / "JS00001.mat"
    savemat(path, {"val": values}, format="4")
    record, _ = read_uploaded_ecg([path], sampling_rate=500)
    np.testing.assert_allclose(record.signal, values / 1000.0)
    path.write_bytes(b"not a matlab file at all" * 10)
    with pytest.raises(ValueError, match="JS00001.mat: not a readable MATLAB file"):
        read_uploaded_ecg([path], sampling_rate=500)


def test_bad_uploads_are_refused_with_a_message(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "a.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="No file uploaded"):
        read_uploaded_ecg([])
    with pytest.raises(ValueError, match="notes.txt: unknown file type .txt"):
        read_uploaded_ecg([tmp_path / "notes.txt"])
    with pytest.raises(ValueError, match="a.npy: not a readable NumPy"):
        read_uploaded_ecg([tmp_path / "a.npy"], sampling_rate=100)
    with pytest.raises(ValueError, match="no .hea header"):
        read_uploaded_ecg([tmp_path / "a.npy", tmp_path / "notes.txt"], sampling_rate=100)


def test_uploads_above_the_limit_are_refused(tmp_path):
    path = tmp_path / "big.npy"
    with open(path, "wb") as handle:
        handle.truncate(2048)
    assert upload_size_error([path], limit=4096) is None
    assert "at most 0 MB" in upload_size_error([path, path], limit=1024 * 3)


def test_example_records_come_from_the_data_resolver_or_a_folder(monkeypatch, tmp_path):
    examples = example_records(PTBXL_DIR)
    assert list(examples) == [f"{index:05d}_hr" for index in range(1, 13)]
    assert all(path.with_name(path.name + ".hea").is_file() for path in examples.values())
    if os.environ.get("SUPREME_DATA_DIR"):
        assert list(example_records(limit=3)) == ["00001_hr", "00002_hr", "00003_hr"]
    assert example_records(tmp_path) == {}
    monkeypatch.delenv("SUPREME_DATA_DIR", raising=False)
    monkeypatch.setenv("SUPREME_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing local and no download: no examples, uploads only
    assert example_records() == {}


# -- a request -------------------------------------------------------------------------------------------------------


def test_page_scores_equal_the_pipelines_and_every_finding_has_its_attention(classifier):
    record = ptbxl_record(1, rate=500)
    reply = answer(classifier, FINDINGS_TEXT, files=_record_files(record))
    assert reply.error is None
    expected = classifier(str(record), candidate_labels=FINDINGS)
    assert [item["label"] for item in reply.result.scores] == [item["label"] for item in expected]
    np.testing.assert_allclose([item["score"] for item in reply.result.scores],
                               [item["score"] for item in expected], atol=1e-6)
    for item in expected:
        explanation = reply.result.explanations[item["label"]]
        assert explanation.attention.sum() == pytest.approx(1.0, abs=1e-4)
        assert explanation.signal.shape == (12, classifier.feature_extractor.num_samples)
    assert reply.result.metadata["record"] == "00001_hr.hea"
    assert reply.result.metadata["leads recorded"] == ", ".join(STANDARD_LEADS)


@pytest.mark.parametrize("lead_set", ["6", "II"])
def test_lead_set_removes_leads_before_the_feature_extractor(classifier, lead_set):
    from modeling_supreme.leads_supreme import lead_set_leads

    record = read_ecg(ptbxl_record(2, rate=500))
    reply = answer(classifier, "NORM: normal ecg", example=ptbxl_record(2, rate=500), lead_set=lead_set)
    kept = lead_set_leads(lead_set)
    reduced_signal = record.signal[[STANDARD_LEADS.index(lead) for lead in kept]]
    [expected] = classifier(reduced_signal, candidate_labels={"NORM": "normal ecg"}, sampling_rate=500,
                            lead_names=list(kept))
    assert reply.result.scores[0]["score"] == pytest.approx(expected["score"], abs=1e-6)
    missing = reply.result.metadata["leads missing"].split(", ")
    assert set(missing) == set(STANDARD_LEADS) - set(kept)
    assert not reply.result.explanations["NORM"].lead_mask[[STANDARD_LEADS.index(lead) for lead in missing]].any()
    from modeling_supreme.ecg_app.ecg_view import leads_figure

    axis = leads_figure(reply.result.explanations["NORM"]).axes[0]  # the plot marks the removed leads as missing
    assert [label.get_text() for label in axis.get_yticklabels()] == list(STANDARD_LEADS)
    assert sum(text.get_text() == "missing" for text in axis.texts) == len(missing)


def test_lead_status_tells_recorded_derived_masked_and_missing_leads():
    mask = np.array([True, True, True, False] + [False] * 8)
    status = lead_status(["I", "II", "aVR"], mask)
    assert [status[lead] for lead in ("I", "II", "III", "aVR", "V1")] == [
        "recorded", "recorded", "derived", "masked", "missing"]


def test_every_bad_input_is_answered_with_a_message(classifier, tmp_path):
    example = ptbxl_record(1, rate=500)
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((12, 10), dtype=np.float32))
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((12, 1000), dtype=np.float32))
    six = tmp_path / "six.npy"
    np.save(six, np.random.default_rng(0).normal(size=(6, 1000)).astype(np.float32))
    cases = {
        "No ECG": answer(classifier, "NORM"),
        "No findings": answer(classifier, "", example=example),
        "lead set 'V7'": answer(classifier, "NORM", example=example, lead_set="V7"),
        "short.npy": answer(classifier, "NORM", files=[short], sampling_rate=500),
        "flat.npy: the ECG is flat": answer(classifier, "NORM", files=[flat], sampling_rate=100),
        "duplicate lead": answer(classifier, "NORM", files=[flat], sampling_rate=100, lead_names_text="I," * 11 + "V1"),
        "needs leads ['V1']": answer(classifier, "NORM", files=[six], sampling_rate=100,
                                     lead_names_text="I, II, III, aVR, aVL, aVF", lead_set="V1"),
    }
    for expected, reply in cases.items():
        assert reply.result is None and expected in reply.error, (expected, reply.error)
        assert "Traceback" not in reply.error


def test_an_unexpected_error_is_answered_and_logged(caplog):
    class Broken:
        feature_extractor = None

        def __call__(self, *args, **kwargs):
            raise RuntimeError("boom")

    reply = answer(Broken(), "NORM", example=ptbxl_record(1, rate=500))
    assert reply.error.startswith("Internal error (RuntimeError: boom)")
    assert "The page failed" in caplog.text


def test_reduce_to_all_leads_keeps_the_record():
    record = read_ecg(ptbxl_record(1))
    assert reduce_to_lead_set(record, ALL_LEADS) is record


def test_app_without_a_model_says_how_to_get_one(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "app.py")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "--model" in result.stderr and "scripts/demo.sh" in result.stderr


def test_page_text_is_escaped_and_scores_have_four_decimals():
    from modeling_supreme.ecg_app.page import error_html, metadata_markdown, scores_html

    table = scores_html([{"label": "<b>NORM</b>", "score": 0.123456}])
    assert "&lt;b&gt;NORM&lt;/b&gt;" in table and ">0.1235<" in table
    assert "<script>" not in error_html("<script>alert(1)</script> in x.hea")
    assert error_html(None) == ""
    assert "| header: dx | 1 \\| 2 |" in metadata_markdown({"header: dx": "1 | 2"}, [])


# -- the ECG view ----------------------------------------------------------------------------------------------------


def _explanation(attention, signal=None, mask=None):
    from modeling_supreme.evaluation.explain import Explanation

    signal = np.random.default_rng(0).normal(size=(12, 500)) if signal is None else signal
    mask = np.ones(12, dtype=bool) if mask is None else mask
    return Explanation(label="NORM", text="normal ecg", score=0.5, attention=np.asarray(attention), signal=signal,
                       lead_mask=mask, sampling_rate=50.0, source="x.hea")


def test_ecg_view_shades_each_token_from_white_to_red_under_the_leads_image():
    import re

    from modeling_supreme.ecg_app.ecg_view import ecg_view_html, shading_colors

    attention = np.array([0.1, 0.5, 0.2, 0.2])
    view = ecg_view_html(_explanation(attention), ["<b>NORM</b>: score 0.5"], "data:image/png;base64,AAAA")
    band = re.search(r'class="ecg-attention" style="[^"]*background:linear-gradient\(to right, ([^)]*)\)', view)
    stops = [stop.split() for stop in band.group(1).split(", ")]
    assert [color for color, _, _ in stops] == shading_colors(attention, 0.1, 0.5)
    assert [(float(low[:-1]), float(high[:-1])) for _, low, high in stops] == [(0, 25), (25, 50), (50, 75), (75, 100)]
    lightest, darkest = shading_colors(np.array([0.1, 0.5]), 0.1, 0.5)
    assert stops[0][0] == lightest and stops[1][0] == darkest and lightest != darkest
    assert all(int(lightest[index:index + 2], 16) > 240 for index in (1, 3))  # almost white
    assert view.index("ecg-attention") < view.index("<img")  # the image lies over the shading
    assert 'src="data:image/png;base64,AAAA"' in view and "&lt;b&gt;NORM&lt;/b&gt;" in view and "<b>NORM" not in view


def test_leads_image_is_drawn_once_per_ecg(monkeypatch):
    from modeling_supreme.ecg_app import ecg_view

    drawn = []
    monkeypatch.setattr(ecg_view, "leads_png", lambda explanation: drawn.append(explanation) or b"png")
    images = ecg_view.LeadsImageCache(size=2)
    first, other = _explanation([0.5, 0.5]), _explanation([0.9, 0.1])  # same ECG, another finding
    assert images.data_uri(first) == images.data_uri(other) == "data:image/png;base64,cG5n"
    assert len(drawn) == 1
    masked = _explanation([0.5, 0.5], mask=np.arange(12) < 6)
    shifted = _explanation([0.5, 0.5], signal=first.signal + 1)
    for explanation in (masked, shifted, first):  # two new ECGs push the first out of a cache of two
        images.data_uri(explanation)
    assert len(drawn) == 4


def test_leads_png_is_a_transparent_image_of_the_views_size():
    import io

    from PIL import Image

    from modeling_supreme.ecg_app.ecg_view import FIGURE_DPI, FIGURE_SIZE, leads_png

    image = Image.open(io.BytesIO(leads_png(_explanation([1.0]))))
    assert image.size == (FIGURE_SIZE[0] * FIGURE_DPI, FIGURE_SIZE[1] * FIGURE_DPI) and image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert alpha[alpha.shape[0] // 2, 5] == 0 and alpha.max() == 255  # background clear, the traces drawn
