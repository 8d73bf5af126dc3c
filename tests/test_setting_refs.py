"""``{setting:NAME}`` in knowledge texts: the value in force, in each language, and never a stale number.

The texts, the loader and the lint check are tested on the small fixture knowledge base; one
end-to-end test changes a setting in a copy of the real knowledge and reads the new value in the
``cds evaluate -f json`` output of both languages.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds import KnowledgeError, load_knowledge
from cds.knowledge import setting_refs
from cds.knowledge.schema import TEXT_RESOLVER, Text
from cds.knowledge.setting_refs import (
    SettingRefError,
    SettingUse,
    bare_numbers,
    format_value,
    placeholders,
    resolver,
    stale_setting_numbers,
    substitute,
)
from cds.lint import lint
from cds.resources import examples_dir, knowledge_dir, pathways_dir, renderers_dir

MINI = Path(__file__).parent / "fixtures" / "mini"
RULES = "knowledge/recommendations/test/mini-arguments/recommendation.yaml"


def test_doctests() -> None:
    assert doctest.testmod(setting_refs).failed == 0


# ------------------------------------------------------------------ texts


@pytest.mark.parametrize(("value", "en", "fr"), [
    (30, "30", "30"), (30.0, "30", "30"), (1.5, "1.5", "1,5"), (0.25, "0.25", "0,25"), (-2, "-2", "-2"),
    ("local", "local", "local"), (True, "true", "true"),
])
def test_values_are_written_for_the_language(value: Any, en: str, fr: str) -> None:
    assert (format_value(value, "en"), format_value(value, "fr")) == (en, fr)


def test_substitution_in_both_languages_leaves_other_braces() -> None:
    settings = {"egfr_avoid": 30.0, "ratio": 1.5}
    text = "eGFR < {setting:egfr_avoid} mL/min, x{setting:ratio} over {horizon_years} years {literal}"
    assert substitute(text, settings, "en") == "eGFR < 30 mL/min, x1.5 over {horizon_years} years {literal}"
    assert substitute(text, settings, "fr") == "eGFR < 30 mL/min, x1,5 over {horizon_years} years {literal}"
    assert substitute("no placeholder {}", settings, "en") == "no placeholder {}"


MALFORMED = ["{setting: x}", "{setting:X}", "{setting:}", "{settingx}", "{setting:x", "{settings}"]


@pytest.mark.parametrize("text", MALFORMED)
def test_a_malformed_placeholder_is_an_error(text: str) -> None:
    with pytest.raises(SettingRefError, match="malformed placeholder") as info:
        placeholders(f"before {text} after")
    assert info.value.code == "setting_placeholder"


def test_an_unknown_setting_names_the_closest() -> None:
    with pytest.raises(SettingRefError, match=r"unknown setting 'prrt_avoid_egfr' .*did you mean "
                                              r"'prrt_avoid_egfr_ml_min' or 'prrt_caution_egfr_ml_min'") as info:
        substitute("{setting:prrt_avoid_egfr}", {"prrt_avoid_egfr_ml_min": 30, "prrt_caution_egfr_ml_min": 50}, "en")
    assert info.value.code == "unknown_setting"
    with pytest.raises(SettingRefError, match="known settings: a, b"):
        substitute("{setting:zzz}", {"b": 1, "a": 2}, "en")


def test_a_text_validated_with_the_settings_keeps_what_was_written() -> None:
    data = {"en": "Ki-67 <= {setting:k} %", "fr": "Ki-67 <= {setting:k} %"}
    text = Text.model_validate(data, context={TEXT_RESOLVER: resolver({"k": 2.5})})
    assert (text.en, text.fr) == ("Ki-67 <= 2.5 %", "Ki-67 <= 2,5 %")
    assert (text.written.en, text.written.fr) == (data["en"], data["fr"])
    assert text.model_dump() == {"en": "Ki-67 <= 2.5 %", "fr": "Ki-67 <= 2,5 %"}
    plain = Text.model_validate(data)  # without the loader's context: as written
    assert plain.en == data["en"] and plain.written is plain


# ------------------------------------------------------------------ loading


def _copy(tmp_path: Path, base: Path = MINI) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(base, root)
    return root


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _because(root: Path, rule_id: str, en: str, fr: str, when: list[Any] | None = None) -> None:
    def change(data: Any) -> None:
        rule = next(r for r in data["rules"] if r["id"] == rule_id)
        rule["because"] = {"en": en, "fr": fr}
        if when is not None:
            rule["when"] = when

    _edit(root / RULES, change)


def test_the_loader_puts_in_the_value_in_force(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _because(root, "mod.ssa_low", "eGFR >= {setting:prrt_avoid_egfr_ml_min} mL/min {x}",
             "DFG >= {setting:prrt_avoid_egfr_ml_min} mL/min {x}")
    kb = load_knowledge(root / "knowledge", root / "pathways")
    rule = next(lr.rule for lr in kb.rules if lr.rule.id == "mod.ssa_low")
    assert (rule.because.en, rule.because.fr) == ("eGFR >= 30 mL/min {x}", "DFG >= 30 mL/min {x}")
    assert rule.because.written.en == "eGFR >= {setting:prrt_avoid_egfr_ml_min} mL/min {x}"


def test_the_real_knowledge_keeps_its_texts_as_written() -> None:
    kb = load_knowledge()
    rule = next(lr.rule for lr in kb.rules if lr.rule.id == "nec.ci.folfiri.diarrhoea")
    value = format_value(kb.settings["irinotecan_caution_bowel_movements_per_day"], "en")
    assert rule.because.en.startswith(f"Diarrhoea of {value} or more stools a day")
    assert "{setting:irinotecan_caution_bowel_movements_per_day}" in rule.because.written.en
    assert "{setting:" in (kb.alerts["prefer_mri"].action or kb.alerts["prefer_mri"].label).written.fr


@pytest.mark.parametrize(("written", "code", "message"), [
    ("below {setting:prrt_avoid_egfr} mL/min", "unknown_setting",
     "unknown setting 'prrt_avoid_egfr' in {setting:prrt_avoid_egfr}; did you mean 'prrt_avoid_egfr_ml_min'"),
    ("below {setting: prrt_avoid_egfr_ml_min} mL/min", "setting_placeholder",
     "malformed placeholder '{setting: prrt_avoid_egfr_ml_min}'"),
])
def test_a_bad_placeholder_fails_the_load_naming_file_rule_and_placeholder(
    tmp_path: Path, written: str, code: str, message: str
) -> None:
    root = _copy(tmp_path)
    _because(root, "mod.ssa_low", "fine", written)
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root / "knowledge", root / "pathways")
    (problem,) = info.value.problems
    assert (problem.code, problem.file, problem.loc) == (code, RULES, "rules[mod.ssa_low].because")
    assert problem.message.startswith(f"fr text: {message}")
    assert message in str(info.value)


# ------------------------------------------------------------------ lint


def test_lint_flags_a_setting_number_written_by_hand(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    when = [{"$lt": {"labs.egfr_ml_min": {"setting": "prrt_avoid_egfr_ml_min"}}}]
    _because(root, "mod.ssa_low", "eGFR below 30 mL/min", "DFG < {setting:prrt_avoid_egfr_ml_min} mL/min", when)
    kb = load_knowledge(root / "knowledge", root / "pathways")
    stale = [f for f in lint(kb, coverage=False) if f.code == "stale_setting_number"]
    assert [(f.level, f.file, f.loc) for f in stale] == [("warning", RULES, "mod.ssa_low.because.en")]
    assert "{setting:prrt_avoid_egfr_ml_min}" in stale[0].message

    _because(root, "mod.ssa_low", "eGFR below {setting:prrt_avoid_egfr_ml_min} mL/min (NETTER-30, 3.5 %)",
             "DFG < {setting:prrt_avoid_egfr_ml_min} mL/min", when)
    kb = load_knowledge(root / "knowledge", root / "pathways")
    assert not [f for f in lint(kb, coverage=False) if f.code == "stale_setting_number"]


def test_stale_numbers_only_for_the_settings_an_item_reads() -> None:
    text = Text(en="Ki-67 <= 5 %, eGFR 30", fr="Ki-67 <= 5 %, DFG 30")
    use = SettingUse("f.yaml", "r", frozenset({"k"}), (("because", text),))
    found = stale_setting_numbers([use], {"k": 5, "egfr": 30})
    assert [(p.code, p.loc) for p in found] == [("stale_setting_number", "r.because.en"),
                                               ("stale_setting_number", "r.because.fr")]
    assert bare_numbers("1,5 et 1.5 et 15", 1.5) == ["1,5", "1.5"]


def test_the_knowledge_states_no_setting_number_by_hand() -> None:
    kb = load_knowledge()
    assert kb.setting_uses  # rules, edges and matrix rows read settings
    assert stale_setting_numbers(kb.setting_uses, kb.settings) == []


# ------------------------------------------------------------------ end to end


def test_changing_a_setting_changes_the_text_in_the_output(tmp_path: Path) -> None:
    """A copy of the knowledge with another liver-burden threshold: the edge's text follows it."""
    root = tmp_path / "content"
    shutil.copytree(knowledge_dir(), root / "knowledge", ignore=shutil.ignore_patterns("vignettes"))
    (root / "pathways").symlink_to(pathways_dir())
    (root / "renderers").symlink_to(renderers_dir())
    config = root / "knowledge" / "catalogues" / "settings" / "general.yaml"
    text, n = re.subn(r"(name: high_liver_burden_percent\n\s+value: )25\n", r"\g<1>27.5\n",
                      config.read_text(encoding="utf-8"))
    assert n == 1
    config.write_text(text, encoding="utf-8")
    patient = examples_dir() / "si-02-carcinoid-syndrome-uncontrolled.json"  # liver burden 35 %
    env = {k: v for k, v in os.environ.items() if k not in ("NETCDS_DEBUG", "NETCDS_CONTENT")}

    def because(lang: str, content: Path | None) -> str:
        run_env = {**env, "NETCDS_CONTENT": str(content)} if content else env
        out = subprocess.run([sys.executable, "-m", "cds.cli", "evaluate", "-f", "json", "--lang", lang, str(patient)],
                             capture_output=True, text=True, env=run_env, timeout=300, check=True).stdout
        rec = json.loads(out)
        texts = [arg["text"] for track in ("anti_tumour", "antisecretory") for option in rec[track]
                 for arg in option["arguments"]
                 if arg["rule"] == "ldt.not_resectable.propose_embolization"]
        assert texts, "the embolization edge no longer fires for this patient"
        return str(texts[0])

    assert "(> 25 %)" in because("en", None)
    assert "(> 27.5 %)" in because("en", root)
    assert "(> 27,5 %)" in because("fr", root)
