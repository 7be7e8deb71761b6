"""Lead names and layouts: mapping any lead order onto the twelve `STANDARD_LEADS`.

`canonical_lead_name` / `standardize_leads` map any lead layout onto the twelve `STANDARD_LEADS`
(I, II, III, aVR, aVL, aVF, V1-V6): reorder by name, derive missing limb leads, zero-fill the rest and return a lead
mask. `lead_layout` plans that mapping once per lead order so that a batch of ECGs can share it.

This file travels with checkpoints as remote code: it imports only its sibling `configuration_supreme` and
installed libraries.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .configuration_supreme import STANDARD_LEADS

logger = logging.getLogger(__name__)

_LEAD_ALIASES: dict[str, str] = {
    **{name.upper(): name for name in STANDARD_LEADS},
    # Einthoven's "derivations" (DI, DII, DIII, as in Brazilian and French data sets).
    "DI": "I",
    "DII": "II",
    "DIII": "III",
    "D1": "I",
    "D2": "II",
    "D3": "III",
    # European chest-lead naming.
    **{f"C{index}": f"V{index}" for index in range(1, 7)},
}

# Real ECG leads that are not among the twelve: Frank/vector leads, right-sided and posterior chest leads,
# inverted aVR (Cabrera), modified and bipolar Holter leads, EASI leads, unnamed ECG channels.
_NON_STANDARD_LEAD = re.compile(
    r"^(?:V[XYZ]|[XYZ]|V\d*R?|-AVR|M?L(?:I{1,3}|\d)|MV\d|CM\d|CC\d|CS\d|A[SI]|ES|ECG\d*|EKG\d*)$"
)


def _normalized_spelling(name: str) -> str:
    """Compatibility forms folded (full-width 'Ｖ３' -> 'V3'), upper-case, a `lead` prefix, separators and the leading
    zeros of a lead number dropped: ' Lead_aVr ' -> 'AVR', 'V01' -> 'V1'."""
    key = unicodedata.normalize("NFKC", name).strip().upper()
    key = re.sub(r"^LEAD[\s_]*", "", key)
    key = re.sub(r"[\s_]", "", key)
    # Zero-padded numbers (V01..V06, as some exporters write them) are the same leads, never non-standard ones.
    return re.sub(r"^([A-Z]+)0+(?=[1-9])", r"\1", key)


def canonical_lead_name(name: str) -> str | None:
    """Map a lead name as written in a file to one of `STANDARD_LEADS`.

    Args:
        name: e.g. "AVR", "avr", "aVR", "i", "DII", "v1", "C3", "Lead V5".

    Returns:
        The standard spelling ("aVR", "I", "II", "V1", ...), or None for a real ECG lead that is not one of the
        twelve (Frank leads vx/vy/vz or X/Y/Z, V7-V9, right-sided V3R/V4R, -aVR, Holter leads such as MLII).

    Raises:
        ValueError: `name` is not an ECG lead at all (e.g. "ABP", "PLETH"); the message names it.
    """
    key = _normalized_spelling(str(name))
    if key in _LEAD_ALIASES:
        return _LEAD_ALIASES[key]
    if _NON_STANDARD_LEAD.match(key):
        return None
    raise ValueError(
        f"{name!r} is not an ECG lead name (expected one of {', '.join(STANDARD_LEADS)} or a known variant)"
    )


# How each limb lead follows from leads I and II (Einthoven's law and Goldberger's augmented leads).
_LIMB_LEADS_FROM_I_II: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}

LeadTerms = dict[int, float]  # input lead index -> coefficient


@dataclass(frozen=True)
class LeadLayout:
    """How to build the twelve standard leads from one input lead order.

    Attributes:
        terms: per standard lead, the linear combination {input index: coefficient} that gives it
            (empty = missing, zero-filled).
        lead_mask: (12,) bool, True where the lead is recorded or derived.
        dropped: input names that are ECG leads but not among the twelve.
    """

    terms: tuple[LeadTerms, ...]
    lead_mask: np.ndarray
    dropped: tuple[str, ...]

    def apply(self, signal: np.ndarray) -> np.ndarray:
        """(..., n_leads, n_samples) -> (..., 12, n_samples) float32; NaN in a used lead propagates.

        Input that already holds the twelve leads in order is returned as is (float32, not copied).
        """
        if self._is_identity(signal.shape[-2]):
            return signal.astype(np.float32, copy=False)
        output = np.zeros(signal.shape[:-2] + (len(STANDARD_LEADS), signal.shape[-1]), dtype=np.float32)
        # inf - inf in a derived lead gives NaN; the caller repairs non-finite values, so no warning is needed.
        with np.errstate(invalid="ignore", over="ignore"):
            self._accumulate(signal, output)
        return output

    def _is_identity(self, n_leads: int) -> bool:
        return n_leads == len(STANDARD_LEADS) and all(terms == {index: 1.0} for index, terms in enumerate(self.terms))

    def _accumulate(self, signal: np.ndarray, output: np.ndarray) -> None:
        for lead_index, terms in enumerate(self.terms):
            for input_index, coefficient in terms.items():
                if coefficient == 1.0:
                    output[..., lead_index, :] += signal[..., input_index, :]
                else:
                    output[..., lead_index, :] += np.float32(coefficient) * signal[..., input_index, :]


def _combine(first: LeadTerms, second: LeadTerms, first_weight: float, second_weight: float) -> LeadTerms:
    combined: LeadTerms = {}
    for terms, weight in ((first, first_weight), (second, second_weight)):
        for index, coefficient in terms.items():
            combined[index] = combined.get(index, 0.0) + weight * coefficient
    return {index: coefficient for index, coefficient in combined.items() if coefficient != 0.0}


def _limb_terms_from_two(positions: dict[str, int]) -> dict[str, LeadTerms]:
    """Leads I and II as combinations of the recorded leads, when any two of I, II, III are recorded."""
    lead_i = {positions["I"]: 1.0} if "I" in positions else None
    lead_ii = {positions["II"]: 1.0} if "II" in positions else None
    lead_iii = {positions["III"]: 1.0} if "III" in positions else None
    if lead_i is None and lead_ii is not None and lead_iii is not None:
        lead_i = _combine(lead_ii, lead_iii, 1.0, -1.0)  # I = II - III
    if lead_ii is None and lead_i is not None and lead_iii is not None:
        lead_ii = _combine(lead_i, lead_iii, 1.0, 1.0)  # II = I + III
    if lead_i is None or lead_ii is None:
        return {}
    return {name: _combine(lead_i, lead_ii, *weights) for name, weights in _LIMB_LEADS_FROM_I_II.items()}


def lead_layout(lead_names: Sequence[str], source: str = "input", derive_limb_leads: bool = True) -> LeadLayout:
    """Plan the mapping of an input lead order onto `STANDARD_LEADS` (see `standardize_leads`).

    Raises:
        ValueError: a name is not an ECG lead, or two names denote the same standard lead.
    """
    positions: dict[str, int] = {}
    dropped: list[str] = []
    for index, name in enumerate(lead_names):
        try:
            canonical = canonical_lead_name(name)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        if canonical is None:
            dropped.append(str(name))
        elif canonical in positions:
            first = lead_names[positions[canonical]]
            raise ValueError(f"{source}: duplicate lead {canonical} (names {first!r} and {name!r})")
        else:
            positions[canonical] = index
    derived = _limb_terms_from_two(positions) if derive_limb_leads else {}
    terms = tuple(
        {positions[lead]: 1.0} if lead in positions else derived.get(lead, {}) for lead in STANDARD_LEADS
    )
    lead_mask = np.array([bool(lead_terms) for lead_terms in terms], dtype=bool)
    return LeadLayout(terms=terms, lead_mask=lead_mask, dropped=tuple(dropped))


def standardize_leads(
    signal: np.ndarray, lead_names: Sequence[str], source: str = "input", derive_limb_leads: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder an ECG to `STANDARD_LEADS`, derive missing limb leads and zero-fill the rest.

    Missing limb leads are derived from any two of I, II, III (III = II - I, aVR = -(I + II) / 2,
    aVL = I - II / 2, aVF = II - I / 2); other missing leads are zeros with mask False. ECG leads that are not
    among the twelve (Frank leads, V7-V9, ...) are dropped with a warning naming them and `source`.

    Args:
        signal: (n_leads, n_samples) array, leads in the order of `lead_names`.
        lead_names: one name per row, any common spelling ("AVR", "avr", "v1", ...).
        source: names the ECG in messages (path or description).
        derive_limb_leads: derive missing limb leads; if False they are zero-filled.

    Returns:
        signal (12, n_samples) float32 in `STANDARD_LEADS` order, and lead_mask (12,) bool
        (True = recorded or derived).

    Raises:
        ValueError: signal is not 2-D, its row count differs from the number of names, a name is not an
            ECG lead, or a lead appears twice.
    """
    signal = np.asarray(signal)
    if signal.ndim != 2:
        raise ValueError(f"{source}: expected a 2-D signal (n_leads, n_samples), got shape {signal.shape}")
    if signal.shape[0] != len(lead_names):
        raise ValueError(
            f"{source}: {len(lead_names)} lead names for a signal of shape {signal.shape} (rows must be leads)"
        )
    layout = lead_layout(lead_names, source, derive_limb_leads)
    if layout.dropped:
        logger.warning("%s: dropping leads that are not among the 12 standard leads: %s", source, list(layout.dropped))
    standardized = layout.apply(signal)
    if np.shares_memory(standardized, signal):  # twelve leads already in order: never hand back the caller's array
        standardized = standardized.copy()
    return standardized, layout.lead_mask.copy()


# ----------------------------------------------------------------------------------------------------------------------
# Lead sets: which leads a device records (reduced-lead and single-lead ECGs)
# ----------------------------------------------------------------------------------------------------------------------

# Named lead sets: the PhysioNet/CinC Challenge 2021 sets (twelve, six limb leads, four, three and two leads).
# Any other set is written as its leads joined by "+" ("I+V2"), a single lead by its name ("II").
NAMED_LEAD_SETS: dict[str, tuple[str, ...]] = {
    "12": STANDARD_LEADS,
    "6": ("I", "II", "III", "aVR", "aVL", "aVF"),
    "4": ("I", "II", "III", "V2"),
    "3": ("I", "II", "V2"),
    "2": ("I", "II"),
}
# What lead-set augmentation draws from by default: the CinC 2021 sets and the single leads of wearables.
DEFAULT_TRAINING_LEAD_SETS: tuple[str, ...] = ("12", "6", "4", "3", "2", "I", "II")
LEAD_SET_SEPARATOR = "+"


def lead_set_leads(lead_set: str) -> tuple[str, ...]:
    """A lead set's name -> its leads in `STANDARD_LEADS` order: "6" -> (I, II, III, aVR, aVL, aVF), "II" -> (II,),
    "V2+I" -> (I, V2). Lead names may use any spelling `canonical_lead_name` accepts.

    Raises:
        ValueError: an empty set, a lead that is not one of the twelve, or a lead named twice (naming the set).
    """
    text = str(lead_set).strip()
    if text in NAMED_LEAD_SETS:
        return NAMED_LEAD_SETS[text]
    names = [name.strip() for name in text.split(LEAD_SET_SEPARATOR)]
    if not text or any(not name for name in names):
        raise ValueError(f"lead set {lead_set!r} is empty or has an empty lead name")
    leads: list[str] = []
    for name in names:
        try:
            canonical = canonical_lead_name(name)
        except ValueError:
            canonical = None
        if canonical is None:
            raise ValueError(
                f"lead set {lead_set!r}: {name!r} is not one of the twelve leads {', '.join(STANDARD_LEADS)} "
                f"(named sets: {', '.join(NAMED_LEAD_SETS)})"
            )
        if canonical in leads:
            raise ValueError(f"lead set {lead_set!r} names lead {canonical} twice")
        leads.append(canonical)
    return tuple(lead for lead in STANDARD_LEADS if lead in leads)


def parse_lead_sets(spec: str | Sequence[str]) -> list[str]:
    """"12,6,II" or ["12", "6", "II"] -> the lead-set names, each checked by `lead_set_leads`.

    Raises:
        ValueError: no set at all, a set named twice, or an invalid set (naming it).
    """
    parts = spec.split(",") if isinstance(spec, str) else spec
    names = [str(part).strip() for part in parts]
    if not names or names == [""]:
        raise ValueError(f"no lead set given in {spec!r} (e.g. '12,6,2,II')")
    for name in names:
        lead_set_leads(name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"lead sets {duplicates} are given twice in {spec!r}")
    return names


def lead_set_mask(lead_set: str, derive_limb_leads: bool = True) -> np.ndarray:
    """(12,) bool: the leads the feature extractor provides when a record holds only `lead_set` (its leads, and the
    limb leads it derives from any two of I, II, III)."""
    return lead_layout(lead_set_leads(lead_set), f"lead set {lead_set!r}", derive_limb_leads).lead_mask.copy()


def select_lead_set(
    signal: np.ndarray,
    lead_names: Sequence[str],
    lead_set: str,
    source: str = "input",
    lead_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Remove every lead outside `lead_set` from a record, as a device recording only those leads would give it.

    Args:
        signal: (n_leads, n_samples), rows in the order of `lead_names`.
        lead_names: one name per row.
        lead_set: a lead-set name (`lead_set_leads`).
        source: names the record in messages.
        lead_mask: optional (12,) bool in `STANDARD_LEADS` order, False for leads the record does not really hold
            (zero-filled when the dataset was built); those count as missing.

    Returns:
        signal (k, n_samples), a copy holding only the set's leads in `STANDARD_LEADS` order, and their k names.

    Raises:
        ValueError: the set is invalid, or the record lacks one of its leads (naming the set, the record and the
            leads).
    """
    wanted = lead_set_leads(lead_set)
    rows: dict[str, int] = {}
    for index, name in enumerate(lead_names):
        canonical = canonical_lead_name(name)
        if canonical is not None and (lead_mask is None or bool(lead_mask[STANDARD_LEADS.index(canonical)])):
            rows[canonical] = index
    missing = [lead for lead in wanted if lead not in rows]
    if missing:
        raise ValueError(
            f"{source}: lead set {lead_set!r} needs leads {missing} that the record lacks (it has {sorted(rows)})"
        )
    return np.asarray(signal)[[rows[lead] for lead in wanted]], wanted
