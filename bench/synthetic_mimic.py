"""A synthetic MIMIC-IV-ECG 1.0 tree, in the release's exact layout, for the scale bench and the builder's tests.

    files/pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN.{hea,dat}   WFDB format 16, 500 Hz, 5000 samples, 12 leads stored
                                                        I, II, III, aVR, aVF, aVL, V1-V6 (aVF before aVL, as MIMIC)
    record_list.csv                                     subject_id, study_id, file_name, ecg_time, path
    machine_measurements.csv                            subject_id, study_id, cart_id, ecg_time, report_0..report_17,
                                                        bandwidth, filtering, rr_interval, ... (in another row order)

Signals are cheap to make but of the real size and type: one of a few beat-train templates per record (chosen by the
record's heart rate) plus a few ADC units of noise, so that they compress like a recording, not like zeros. Reports come
from a grammar of machine statements in the style of MIMIC's (rhythm, conduction, axis, hypertrophy, infarct,
repolarisation, overall interpretation), drawn with skewed weights: most studies say one of a few hundred common
reports, as MIMIC's machine reports do. `SyntheticTree.distinct_report_ratio` says how much repetition a tree has.

Bad input can be planted on purpose (`BadInput`): a record listed without files, a machine_measurements row for a
study no record has, a study listed twice in record_list.csv, a truncated .dat; each is returned with its study id.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

MIMIC_LEADS = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")
SAMPLING_RATE = 500
NUM_SAMPLES = 5000
ADC_GAIN = 200.0  # ADC units per mV of the release's headers (5 µV steps)
REPORT_COLUMNS = tuple(f"report_{index}" for index in range(18))
MEASUREMENT_COLUMNS = ("bandwidth", "filtering", "rr_interval", "p_onset", "p_end", "qrs_onset", "qrs_end",
                       "t_end", "p_axis", "qrs_axis", "t_axis")
FIRST_SUBJECT = 10000032
FIRST_STUDY = 40000017
STUDIES_PER_SUBJECT = 5  # MIMIC-IV-ECG: ~800,000 studies of ~160,000 patients

# (statement, weight) per slot of a machine report; "" means the slot says nothing.
RHYTHMS = (("Sinus rhythm", 50), ("Sinus bradycardia", 12), ("Sinus tachycardia", 10), ("Atrial fibrillation", 8),
           ("Atrial fibrillation with rapid ventricular response", 3), ("Atrial flutter with variable A-V block", 1),
           ("Sinus rhythm with premature ventricular contractions", 3), ("Sinus arrhythmia", 3),
           ("Sinus rhythm with 1st degree A-V block", 4), ("Pacemaker rhythm - no further analysis", 2),
           ("Junctional rhythm", 1), ("Supraventricular tachycardia", 1), ("Poor quality data", 1))
CONDUCTION = (("", 70), ("Right bundle branch block", 8), ("Left bundle branch block", 4),
              ("Incomplete right bundle branch block", 6), ("Left anterior fascicular block", 6),
              ("Nonspecific intraventricular conduction delay", 4), ("Prolonged QT interval", 4))
AXIS = (("", 80), ("Left axis deviation", 12), ("Right axis deviation", 4), ("Indeterminate axis", 1))
HYPERTROPHY = (("", 85), ("Left ventricular hypertrophy", 6), ("Possible left atrial abnormality", 5),
               ("Low QRS voltages in limb leads", 4))
INFARCT = (("", 80), ("Inferior infarct - age undetermined", 6), ("Possible anterior infarct - age undetermined", 5),
           ("Anteroseptal infarct - age undetermined", 4), ("Lateral ST-T changes may be due to myocardial ischemia",
                                                              3), ("Acute MI / STEMI", 1))
REPOLARISATION = (("", 60), ("Nonspecific T wave abnormalities", 14), ("Nonspecific ST abnormality", 8),
                  ("ST-T changes - nonspecific", 6), ("T wave inversion in inferior leads", 4),
                  ("Early repolarization", 3))
SLOTS = (CONDUCTION, AXIS, HYPERTROPHY, INFARCT, REPOLARISATION)
NORMAL_ENDINGS = (("Normal ECG", 6), ("Otherwise normal ECG", 3), ("Borderline ECG", 1))
ABNORMAL_ENDINGS = (("Abnormal ECG", 8), ("Borderline ECG", 3), ("--- Abnormal ECG ---", 1))
SHORT_REPORTS = (("Normal ECG",), ("Poor", "quality"))  # under four words: MIMIC's filter drops them


@dataclasses.dataclass(frozen=True)
class BadInput:
    """How many of each defect to plant (each on a different study)."""

    missing_files: int = 0
    orphan_measurements: int = 0
    duplicate_studies: int = 0
    truncated_dat: int = 0

    @classmethod
    def per_thousand(cls, records: int) -> BadInput:
        """One of each defect per 1,000 records (at least one of each)."""
        count = max(1, records // 1000)
        return cls(count, count, count, count)


@dataclasses.dataclass
class SyntheticTree:
    """What `write_tree` wrote: the root, its records, distinct reports and the studies given each defect."""

    root: Path
    records: int
    listed_rows: int
    distinct_reports: int
    reports: int
    short_reports: int
    planted: dict[str, list[int]]

    @property
    def distinct_report_ratio(self) -> float:
        return self.distinct_reports / self.reports if self.reports else float("nan")


def _choice(rng: np.random.Generator, options: tuple[tuple[str, int], ...]) -> str:
    weights = np.array([weight for _, weight in options], dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def report_fragments(rng: np.random.Generator) -> tuple[str, ...]:
    """The report_0.. fragments of one study, e.g. ("Sinus rhythm", "Left axis deviation", "Borderline ECG")."""
    if rng.random() < 0.01:
        return SHORT_REPORTS[int(rng.integers(len(SHORT_REPORTS)))]
    findings = [statement for statement in (_choice(rng, slot) for slot in SLOTS) if statement]
    ending = _choice(rng, ABNORMAL_ENDINGS if findings else NORMAL_ENDINGS)
    return (_choice(rng, RHYTHMS), *findings, ending)


def beat_templates(count: int = 8) -> np.ndarray:
    """(count, 12, NUM_SAMPLES) int16 ADC units: Gaussian P-QRS-T trains at 55-110 bpm, each lead its own scale."""
    time = np.arange(NUM_SAMPLES) / SAMPLING_RATE
    lead_scale = np.linspace(-1.0, 1.5, 12)[:, None]
    templates = np.empty((count, 12, NUM_SAMPLES), dtype=np.int16)
    for index, rate in enumerate(np.linspace(55, 110, count)):
        phase = (time * rate / 60.0) % 1.0
        wave = (0.15 * np.exp(-((phase - 0.2) / 0.025) ** 2) + 1.0 * np.exp(-((phase - 0.35) / 0.01) ** 2)
                - 0.2 * np.exp(-((phase - 0.38) / 0.01) ** 2) + 0.3 * np.exp(-((phase - 0.6) / 0.05) ** 2))
        templates[index] = np.round(wave[None, :] * lead_scale * ADC_GAIN).astype(np.int16)
    return templates


def write_record(base: Path, study_id: int, signal: np.ndarray) -> None:
    """`base`.hea and `base`.dat: (12, NUM_SAMPLES) int16 ADC units as WFDB format 16 (interleaved little-endian)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    frames = np.ascontiguousarray(signal.T).astype("<i2")
    frames.tofile(base.with_suffix(".dat"))
    lines = [f"{study_id} 12 {SAMPLING_RATE} {NUM_SAMPLES} 13:13:00 01/06/2180"]
    for lead, samples in zip(MIMIC_LEADS, signal):
        checksum = int(samples.astype(np.int64).sum()) & 0xFFFF
        checksum = checksum - 0x10000 if checksum >= 0x8000 else checksum
        lines.append(f"{study_id}.dat 16 {ADC_GAIN:g}(0)/mV 16 0 {int(samples[0])} {checksum} 0 {lead}")
    base.with_suffix(".hea").write_text("\n".join(lines) + "\n")


def record_path(subject_id: int, study_id: int) -> str:
    """`files/p1000/p10000032/s40000017/40000017`: the release's path of a study (no extension)."""
    return f"files/p{str(subject_id)[:4]}/p{subject_id}/s{study_id}/{study_id}"


def write_tree(root: str | Path, records: int, seed: int = 0, bad: BadInput = BadInput()) -> SyntheticTree:
    """Write a synthetic MIMIC-IV-ECG tree of `records` studies under `root` (see the module docstring).

    Studies are numbered from `FIRST_STUDY`, `STUDIES_PER_SUBJECT` per subject. The planted defects take the last
    studies (missing files, truncated .dat, duplicates of earlier studies appended to record_list.csv) and extra
    measurement rows for studies that have no record.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    templates = beat_templates()
    study_ids = FIRST_STUDY + 7 * np.arange(records)
    subject_ids = FIRST_SUBJECT + np.arange(records) // STUDIES_PER_SUBJECT
    missing = set(study_ids[records - bad.missing_files:].tolist()) if bad.missing_files else set()
    truncated_from = records - bad.missing_files - bad.truncated_dat
    truncated = set(study_ids[truncated_from: records - bad.missing_files].tolist())
    listed, measured, distinct = [], [], set()
    short = 0
    for index, (study_id, subject_id) in enumerate(zip(study_ids.tolist(), subject_ids.tolist())):
        path = record_path(subject_id, study_id)
        time = f"2180-{1 + index % 12:02d}-{1 + index % 28:02d} {index % 24:02d}:13:00"
        listed.append((subject_id, study_id, study_id, time, path))
        fragments = report_fragments(rng)
        distinct.add(fragments)
        short += fragments in SHORT_REPORTS
        measured.append((subject_id, study_id, 6848296 + index % 50, time, fragments))
        if study_id in missing:
            continue
        noise = rng.integers(-3, 4, size=(12, NUM_SAMPLES), dtype=np.int16)
        write_record(root / path, study_id, templates[index % len(templates)] + noise)
        if study_id in truncated:
            data = (root / path).with_suffix(".dat")
            data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    duplicates = [row[1] for row in listed[: bad.duplicate_studies]]
    listed += listed[: bad.duplicate_studies]
    orphans = [int(FIRST_STUDY + 7 * (records + index)) + 3 for index in range(bad.orphan_measurements)]
    for index, study_id in enumerate(orphans):
        fragments = report_fragments(rng)
        measured.append((FIRST_SUBJECT + index, study_id, 6848296, "2180-01-01 00:00:00", fragments))
    _write_csv(root / "record_list.csv", ("subject_id", "study_id", "file_name", "ecg_time", "path"), listed)
    _write_measurements(root / "machine_measurements.csv", measured, rng)
    planted = {"missing files": sorted(missing), "orphan measurements": orphans, "duplicate studies": duplicates,
               "truncated dat": sorted(truncated)}
    return SyntheticTree(root, records, len(listed), len(distinct), records, short, planted)


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_measurements(path: Path, measured: list[tuple], rng: np.random.Generator) -> None:
    """machine_measurements.csv in a row order other than record_list.csv's (blocks of 1,000 reversed), so that a
    join by row order fails."""
    header = ("subject_id", "study_id", "cart_id", "ecg_time", *REPORT_COLUMNS, *MEASUREMENT_COLUMNS)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for start in range(0, len(measured), 1000):
            for subject_id, study_id, cart_id, time, fragments in reversed(measured[start: start + 1000]):
                cells = list(fragments) + [""] * (len(REPORT_COLUMNS) - len(fragments))
                values = [500, 60, int(rng.integers(500, 1100)), 40, 150, 230, 320, 600, 60, 30, 45]
                writer.writerow((subject_id, study_id, cart_id, time, *cells, *values))
