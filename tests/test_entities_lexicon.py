"""Lexicon extractor: phrasings of MIMIC-IV-ECG machine statements and of PTB-XL reports (en / de / sv),
negation and uncertainty cues, the SCP mapping, and the schema it produces."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from modeling_supreme.dataset_builders.ptbxl import parse_scp_codes
from modeling_supreme.entities import (
    CATEGORIES,
    Entity,
    EntityValidationError,
    Lexicon,
    LexiconError,
    LexiconExtractor,
    entities_to_scp_codes,
    validate_answer,
)
from tests.sample_data import PTBXL_DIR


@pytest.fixture(scope="module")
def extractor() -> LexiconExtractor:
    return LexiconExtractor()


def statuses(entities: list[Entity]) -> dict[str, str]:
    return {entity.name: entity.status for entity in entities}


# MIMIC-IV-ECG machine statements (none of them occurs in the bundled PTB-XL sample).
MIMIC_STATEMENTS = [
    ("Sinus rhythm", {"sinus rhythm": "present"}),
    ("Left axis deviation", {"left axis deviation": "present"}),
    ("Possible anterior infarct - age undetermined", {"anterior myocardial infarction": "uncertain"}),
    ("Borderline ECG", {"borderline ecg": "present"}),
    ("Sinus rhythm with 1st degree A-V block", {"sinus rhythm": "present", "first degree av block": "present"}),
    ("Atrial fibrillation with rapid ventricular response", {"atrial fibrillation": "present"}),
    ("Inferior/lateral ST-T changes may be due to myocardial ischemia", {"inferolateral ischemia": "uncertain"}),
    ("Probable left ventricular hypertrophy", {"left ventricular hypertrophy": "uncertain"}),
    ("RBBB with left anterior fascicular block",
     {"right bundle branch block": "present", "left anterior fascicular block": "present"}),
    ("Low QRS voltages in limb leads", {"low qrs voltage in limb leads": "present"}),
    ("Low QRS voltages in precordial leads", {"low qrs voltage in chest leads": "present"}),
    ("Low voltage, extremity and precordial leads", {"low qrs voltage": "present"}),
    ("Prolonged QT interval", {"prolonged qt interval": "present"}),
    ("Septal infarct, age undetermined", {"septal myocardial infarction": "present"}),
    ("Atrial flutter with 2:1 A-V conduction", {"atrial flutter": "present"}),
    ("Incomplete right bundle branch block", {"incomplete right bundle branch block": "present"}),
    ("Left atrial abnormality", {"left atrial enlargement": "present"}),
    ("Sinus bradycardia. Otherwise normal ECG", {"sinus bradycardia": "present", "normal ecg": "present"}),
    ("Ventricular premature complex", {"ventricular premature complex": "present"}),
    ("Nonspecific T wave abnormality", {"nonspecific t wave abnormality": "present"}),
    ("Cannot rule out inferior infarct, age undetermined", {"inferior myocardial infarction": "uncertain"}),
    ("No ST elevation", {"st elevation": "absent"}),
    ("Abnormal ECG", {"abnormal ecg": "present"}),
]


@pytest.mark.parametrize("report, expected", MIMIC_STATEMENTS)
def test_mimic_machine_statements(extractor: LexiconExtractor, report: str, expected: dict[str, str]) -> None:
    assert statuses(extractor.extract(report)) == expected


PTBXL_STYLE = [
    # German, with the export's upper-case umlauts and "#" for ü.
    ("sinusrhythmus unvollstÄndiger rechtsschenkelblock",
     {"sinus rhythm": "present", "incomplete right bundle branch block": "present"}),
    ("sinusrhythmus mÄssige amplitudenkriterien f#r linkshypertrophie",
     {"sinus rhythm": "present", "voltage criteria for left ventricular hypertrophy": "present"}),
    ("sinusrhythmus qrs(t) abnormal    anteroseptaler myokardschaden nicht auszuschliessen",
     {"sinus rhythm": "present", "abnormal qrs": "present", "anteroseptal myocardial infarction": "uncertain"}),
    ("sinusrhythmus verdacht auf p-sinistrocardiale linkstyp",
     {"sinus rhythm": "present", "left atrial enlargement": "uncertain", "leftward axis": "present"}),
    ("sinusrhythmus normales ekg ergo: kein neg t Über der brustwand",
     {"sinus rhythm": "present", "normal ecg": "present", "inverted t waves": "absent"}),
    # Swedish.
    ("sinusrytm vÄnster el-axel vÄnstersidigt skÄnkelblock",
     {"sinus rhythm": "present", "left axis deviation": "present", "left bundle branch block": "present"}),
    ("sinusrytm avvikande qrs(t) fÖrlopp    inferior infarkt     Ålder ej bestÄmmbar",
     {"sinus rhythm": "present", "abnormal qrs": "present", "inferior myocardial infarction": "present"}),
    ("sinusrytm avvikande qrs(t) fÖrlopp    lateral myokardskada kan ej uteslutas",
     {"sinus rhythm": "present", "abnormal qrs": "present", "lateral myocardial infarction": "uncertain"}),
    # The ST-T finding in front of an ischemia statement is a finding of its own; only the ischemia is hedged.
    ("sinusrytm st-t sÄnkning, sÅsom vid    anterolateral ischemi eller vÄnster belastning",
     {"sinus rhythm": "present", "st depression": "present", "anterolateral ischemia": "uncertain",
      "left ventricular strain": "uncertain"}),
    ("ventrikulÄre extrasystole(n) sinusrhythmus st & t abnormal, "
     "wahrscheinlich    anteriore ischÄmie oder linksbelastung",
     {"ventricular premature complex": "present", "sinus rhythm": "present", "st t abnormality": "present",
      "anterior ischemia": "uncertain", "left ventricular strain": "uncertain"}),
    # Low voltage confined to the limb leads is not SCP's LVOLT (limb and chest leads).
    ("sinusrhythmus periphere niederspannung", {"sinus rhythm": "present", "low qrs voltage in limb leads": "present"}),
    ("sinusrytm lÅga qrs amplituder i extremitetsavledningarna",
     {"sinus rhythm": "present", "low qrs voltage in limb leads": "present"}),
    # English PTB-XL.
    ("sinus rhythm. q waves in ii, iii, avf consistent with old inferior    myocardial infarction.",
     {"sinus rhythm": "present", "q waves": "present", "inferior myocardial infarction": "uncertain"}),
]


@pytest.mark.parametrize("report, expected", PTBXL_STYLE)
def test_ptbxl_phrasings(extractor: LexiconExtractor, report: str, expected: dict[str, str]) -> None:
    assert statuses(extractor.extract(report)) == expected


def test_longest_match_wins_and_sentence_scope(extractor: LexiconExtractor) -> None:
    entities = statuses(extractor.extract("Possible left atrial enlargement. Incomplete right bundle branch block."))
    # "right bundle branch block" lies inside the incomplete one; "possible" does not cross the full stop.
    assert entities == {"left atrial enlargement": "uncertain", "incomplete right bundle branch block": "present"}


def test_cues_reach_along_lists(extractor: LexiconExtractor) -> None:
    assert statuses(extractor.extract("No LBBB or RBBB. Sinus rhythm.")) == {
        "left bundle branch block": "absent", "right bundle branch block": "absent", "sinus rhythm": "present",
    }
    assert statuses(extractor.extract("ST elevation, consider early repolarization, pericarditis, or injury")) == {
        "st elevation": "present", "early repolarization": "uncertain", "pericarditis": "uncertain",
    }
    # German statements follow each other without punctuation: no list, the cue stays with its statement.
    assert statuses(extractor.extract("sinusrhythmus verdacht auf p-sinistrocardiale linkstyp")) == {
        "sinus rhythm": "present", "left atrial enlargement": "uncertain", "leftward axis": "present",
    }


def test_edit_notes_with_scp_codes_are_ignored(extractor: LexiconExtractor) -> None:
    plain = extractor.extract("sinus rhythm. right bundle branch block.")
    with_edit = extractor.extract("sinus rhythm. right bundle branch block. Edit: ASMI 100, CRBBB, (ASMI 100, CRBBB)")
    assert with_edit == plain


def test_empty_and_blank_reports_give_no_entities(extractor: LexiconExtractor) -> None:
    assert extractor.extract("") == []
    assert extractor.extract("   ") == []
    with pytest.raises(TypeError, match="string"):
        extractor.extract(None)  # type: ignore[arg-type]


def test_extract_batch_matches_extract(extractor: LexiconExtractor) -> None:
    reports = ["sinus rhythm. normal ecg.", "sinusrhythmus normales ekg", "sinus rhythm. normal ecg.", ""]
    assert extractor.extract_batch(reports) == [extractor.extract(report) for report in reports]


def test_noise_can_be_left_out() -> None:
    entities = LexiconExtractor(keep_noise=False).extract("Sinus rhythm. Abnormal ECG. Unconfirmed report.")
    assert [entity.name for entity in entities] == ["sinus rhythm"]


def test_every_scp_statement_is_reachable() -> None:
    lexicon = Lexicon.load()
    codes = set(pd.read_csv(PTBXL_DIR / "scp_statements.csv", index_col=0).index)
    mapped = {code for spec in lexicon.specs.values() for code in spec.scp_codes}
    assert codes <= mapped, f"SCP codes without an entity: {sorted(codes - mapped)}"
    assert mapped <= codes, f"entities map to unknown SCP codes: {sorted(mapped - codes)}"


def test_lexicon_entries_are_complete() -> None:
    lexicon = Lexicon.load()
    for spec in lexicon.specs.values():
        assert spec.category in CATEGORIES
        assert spec.description and spec.description != spec.name, spec.name
        assert spec.name == spec.name.lower().strip()


def test_extracted_entities_map_to_codes_of_the_real_sample(extractor: LexiconExtractor) -> None:
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    lexicon = extractor.lexicon
    sinus_rows = database[
        database.report.str.startswith(
            ("sinusrhythmus normales ekg", "sinus rhythm. normal ecg", "sinusrytm normalt ekg")
        )
    ]
    assert len(sinus_rows) > 50
    for report in sinus_rows.report:
        assert entities_to_scp_codes(extractor.extract(report), lexicon) == {"SR", "NORM"}, report
    assert set(parse_scp_codes(sinus_rows.scp_codes.iloc[0], 'test')) >= {"SR", "NORM"}


@pytest.mark.parametrize("report, codes", [
    ("sinusrhythmus periphere niederspannung", {"SR"}),
    ("Sinus rhythm. Low QRS voltages in precordial leads.", {"SR"}),
    ("Sinus rhythm. Low voltage, extremity and precordial leads.", {"SR", "LVOLT"}),
])
def test_only_low_voltage_in_limb_and_chest_leads_is_lvolt(
    extractor: LexiconExtractor, report: str, codes: set[str]
) -> None:
    assert entities_to_scp_codes(extractor.extract(report), extractor.lexicon) == codes


@pytest.mark.parametrize("report, codes", [
    ("sinusrhythmus unspezifisches abnormales t", {"SR", "NDT"}),
    ("Nonspecific T wave abnormality", {"NDT"}),
    ("sinus rhythm. non-specific t wave flattening in v2-6.", {"SR", "NT_"}),
    ("Nonspecific T wave changes", {"NT_"}),
])
def test_t_wave_statements_map_to_the_scp_statement_they_say(
    extractor: LexiconExtractor, report: str, codes: set[str]
) -> None:
    assert entities_to_scp_codes(extractor.extract(report), extractor.lexicon) == codes


def test_negated_entities_predict_no_code(extractor: LexiconExtractor) -> None:
    entities = extractor.extract("No evidence of left bundle branch block. Sinus rhythm.")
    assert statuses(entities)["left bundle branch block"] == "absent"
    assert entities_to_scp_codes(entities, extractor.lexicon) == {"SR"}


def test_a_clinician_can_extend_the_lexicon(tmp_path) -> None:
    text = (resources.files("modeling_supreme.entities") / "lexicon.yaml").read_text("utf-8")
    path = tmp_path / "lexicon.yaml"
    path.write_text(text + '''  - name: hypothermia pattern
    category: other
    scp: []
    description: "hypothermia pattern: Osborn J waves at the QRS-ST junction"
    forms:
      en: ["osborn wave*", "j wave*"]
''', encoding="utf-8")
    extractor = LexiconExtractor(Lexicon.load(path))
    assert statuses(extractor.extract("Sinus bradycardia. Osborn waves.")) == {
        "sinus bradycardia": "present",
        "hypothermia pattern": "present",
    }


def test_broken_lexicon_files_are_named(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("entities:\n  - name: thing\n    category: nonsense\n    forms: {en: [thing]}\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="bad.yaml.*nonsense"):
        Lexicon.load(path)
    path.write_text(
        "entities:\n  - name: thing\n    category: other\n    forms: {en: ['{nowhere} thing']}\n", encoding="utf-8"
    )
    with pytest.raises(LexiconError, match="unknown slot"):
        Lexicon.load(path)


def test_language_restriction() -> None:
    english_only = LexiconExtractor(languages=("en",))
    assert english_only.extract("sinusrhythmus normales ekg") == []
    assert statuses(english_only.extract("sinus rhythm")) == {"sinus rhythm": "present"}


def test_answer_validation_names_the_problem() -> None:
    assert validate_answer(
        '{"entities": [{"name": " Atrial  Fibrillation", "category": "rhythm", "status": "present"}]}'
    ) == [Entity("atrial fibrillation", "rhythm", "present")]
    with pytest.raises(EntityValidationError, match="not valid JSON"):
        validate_answer("{entities: oops")
    with pytest.raises(EntityValidationError, match="entities/0/category"):
        validate_answer('{"entities": [{"name": "x", "category": "heart", "status": "present"}]}')
    with pytest.raises(EntityValidationError, match="entities"):
        validate_answer('{"findings": []}')
    with pytest.raises(EntityValidationError, match="status"):
        Entity("sinus rhythm", "rhythm", "maybe")


@pytest.mark.parametrize("report, language, codes", [
    # PTB-XL's annotators never coded ABQRS for the Swedish "avvikande QRS(T) förlopp", always for the German twin.
    ("sinusrytm avvikande qrs(t) fÖrlopp", "sv", {"SR"}),
    ("sinusrhythmus qrs(t) abnorm", "de", {"SR", "ABQRS"}),
    # Without a language every entity maps to its codes for all languages.
    ("sinusrytm avvikande qrs(t) fÖrlopp", None, {"SR", "ABQRS"}),
    # An "anterior" infarct is coded ASMI in PTB-XL; the anterior wall is AMI.
    ("sinus rhythm. anterior myocardial infarction.", "en", {"SR", "ASMI"}),
    ("sinusrhythmus vorderwandinfarkt", "de", {"SR", "AMI"}),
])
def test_scp_table_rows_per_language(extractor: LexiconExtractor, report: str, language, codes: set[str]) -> None:
    assert entities_to_scp_codes(extractor.extract(report), extractor.lexicon, language=language) == codes


def test_scp_table_entries_are_checked(tmp_path) -> None:
    entry = "entities:\n  - {name: x, category: other, description: an x, scp: %s, forms: {en: [x]}}\n"
    path = tmp_path / "lexicon.yaml"
    path.write_text(entry % "{all: [NORM], fr: []}", encoding="utf-8")
    with pytest.raises(LexiconError, match="unknown keys.*fr"):
        Lexicon.load(path)
    path.write_text(entry % "NORM", encoding="utf-8")
    with pytest.raises(LexiconError, match="scp must be a list"):
        Lexicon.load(path)
    path.write_text(entry % "{all: [NORM], de: [SR]}", encoding="utf-8")
    lexicon = Lexicon.load(path)
    assert lexicon.scp_codes("x") == ("NORM",) and lexicon.scp_codes("x", "de") == ("SR",)
    assert lexicon.scp_codes("x", "sv") == ("NORM",)


def test_lvh_is_not_coded_beside_a_complete_lbbb(extractor: LexiconExtractor) -> None:
    lbbb = extractor.extract("vorhofflimmern linksschenkelblock linkshypertrophie mÖglich")
    assert statuses(lbbb)["left ventricular hypertrophy"] == "uncertain"  # still extracted for training
    assert entities_to_scp_codes(lbbb, extractor.lexicon, language="de") == {"AFIB", "CLBBB"}
    alone = extractor.extract("vorhofflimmern linkshypertrophie mÖglich")
    assert entities_to_scp_codes(alone, extractor.lexicon, language="de") == {"AFIB", "LVH"}
    # A negated LBBB does not suppress the LVH code.
    negated = extractor.extract("Sinus rhythm. No left bundle branch block. Left ventricular hypertrophy.")
    assert entities_to_scp_codes(negated, extractor.lexicon, language="en") == {"SR", "LVH"}


def test_not_beside_must_name_an_entity(tmp_path) -> None:
    path = tmp_path / "lexicon.yaml"
    path.write_text("entities:\n  - {name: x, category: other, description: an x, not_beside: [y], forms: {en: [x]}}\n",
                    encoding="utf-8")
    with pytest.raises(LexiconError, match="not_beside names unknown entities"):
        Lexicon.load(path)


@pytest.mark.parametrize("report, expected", [
    ("atrial fibrillation. probable old anteroseptal and inferior myocardial    infarcts.",
     {"atrial fibrillation": "present", "anteroseptal myocardial infarction": "uncertain",
      "inferior myocardial infarction": "uncertain"}),
    ("tiny r waves in v2,3, old anteroseptal infarct cannot be entirely excluded.",
     {"poor r wave progression": "present", "anteroseptal myocardial infarction": "uncertain"}),
    ("vorhofflimmern st abnorm, mÖglicherweise    inferiorer innenschichtsschaden 4.46",
     {"atrial fibrillation": "present", "st t abnormality": "present", "inferior subendocardial injury": "uncertain"}),

    ("atrial fibrillation. t waves are low. findings are likely to be due to ischaemic heart  disease.",
     {"atrial fibrillation": "present", "low amplitude t waves": "present", "myocardial ischemia": "uncertain"}),
    # A remark on the usual cause of a block is not a statement of ischemia.
    ("sinus rhythm. left bundle branch block, this is most commonly due to ischaemic heart disease.",
     {"sinus rhythm": "present", "left bundle branch block": "present"}),
])
def test_phrasings_of_the_development_folds(extractor: LexiconExtractor, report: str, expected: dict[str, str]) -> None:
    assert statuses(extractor.extract(report)) == expected


@pytest.mark.parametrize("report, language, codes", [
    # A German report of a sinus rhythm and findings without a code is coded NORM, as PTB-XL's annotators did.
    ("sinusrhythmus lagetyp normal periphere niederspannung", "de", {"SR", "NORM"}),
    ("sinusrhythmus linkstyp unvollstÄndiger rechtsschenkelblock", "de", {"SR", "IRBBB"}),
    ("vorhofflimmern/-flattern lagetyp normal", "de", {"AFIB"}),
    # English reports are left to what they say.
    ("Sinus rhythm. Low QRS voltages in precordial leads.", "en", {"SR"}),
])
def test_implied_normal_for_german_sinus_reports(
    extractor: LexiconExtractor, report: str, language: str, codes: set[str]
) -> None:
    assert entities_to_scp_codes(extractor.extract(report), extractor.lexicon, language=language) == codes


def test_implied_normal_entry_is_checked(tmp_path) -> None:
    path = tmp_path / "lexicon.yaml"
    entities = "entities:\n  - {name: x, category: other, description: an x, forms: {en: [x]}}\n"
    path.write_text("implied_normal: {code: NORM, when_only: {fr: [SR]}}\n" + entities, encoding="utf-8")
    with pytest.raises(LexiconError, match="unknown languages"):
        Lexicon.load(path)
    path.write_text("implied_normal: [SR]\n" + entities, encoding="utf-8")
    with pytest.raises(LexiconError, match="implied_normal must be"):
        Lexicon.load(path)
