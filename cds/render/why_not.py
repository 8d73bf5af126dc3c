"""Why not, in words: the sentences of an :class:`~cds.explain.Explanation`.

:mod:`cds.explain` finds, in data, what kept an option out of first place
(which tests held or failed, on which values, along which pathway edges);
this module says it in the report language, with the field labels, units and
operators of ``renderers/i18n.yaml``. Every why-not output (the terminal and
Markdown explanations of ``cds explain``, the why-not section of the
tumour-board report) is built from :func:`why_not_view`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cds.explain import ConditionCheck, EdgeCheck, Explanation, LeafCheck, RuleCheck, TrackExplanation
from cds.knowledge.conditions import NOT_ASKED
from cds.render.i18n import Labels

_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_OP_KEY = {"<": "op_lt", "<=": "op_lte", ">": "op_gt", ">=": "op_gte"}


@dataclass(frozen=True)
class ConditionView:
    hint: str | None  # "any one of these would do" when several tests decide together
    tests: list[str]


@dataclass(frozen=True)
class ReasonView:
    """One rule or pathway edge in a why-not explanation."""

    id: str
    text: str
    detail: str
    conditions: list[ConditionView]
    status: str = ""  # e.g. "from step “X” (reached) — did not apply"
    blocked_by: list[ReasonView] = field(default_factory=list)


@dataclass(frozen=True)
class GroupView:
    title: str
    reasons: list[ReasonView]


@dataclass(frozen=True)
class WhyTrackView:
    track: str
    title: str
    status: str
    summary: str
    groups: list[GroupView]


@dataclass(frozen=True)
class WhyNotView:
    option: str
    label: str
    title: str
    tracks: list[WhyTrackView]
    changes: list[str]
    missing: list[str]
    note: str | None = None  # when nothing in the data would change the ranking
    summary: str = ""


# ------------------------------------------------------------------ sentences


def leaf_sentence(lab: Labels, test: LeafCheck) -> str:
    """One test with the patient's value and what would change it.

    Examples
    --------
    >>> from cds.render.i18n import labels
    >>> t = LeafCheck(path="tumour.ki67_percent", op=">=", expected=10, actual=5, absent=False,
    ...               missing=False, held=False)
    >>> leaf_sentence(labels("en"), t)
    'Ki-67: 5 % — would need >= 10 %'
    """
    path = test.path
    head, _, rest = path.partition(".")
    if head in ("node", "candidate", "pathway"):
        key = ("held_" if test.held else "failed_") + head
        return lab.fmt(key, node=lab.node(rest), option=lab.option(rest), pathway=lab.pathway(rest))
    name = _capitalise(lab.field(path))
    shown = lab.value(path, test.actual) if not test.absent else lab["unknown"]
    if isinstance(test.expected, list):  # several values, any one would do (one line per field)
        shown_values = [lab.value(path, v) for v in test.expected]
        expected = f" {lab['or']} ".join([", ".join(shown_values[:-1]), shown_values[-1]]) \
            if len(shown_values) > 1 else "".join(shown_values)
    else:
        expected = lab.value(path, test.expected) if test.expected is not None else ""
    values = {"field": name, "actual": shown, "expected": expected, "path": path}
    flag = path.startswith(NOT_ASKED)
    op = test.op
    if test.held:
        if op == "absent":
            return lab.fmt("held_none" if flag else "held_absent", **values)
        if op == "exists":
            return lab.fmt("held_exists", **values)
        if op == "==":
            return lab.fmt("held_equal", **values)
        if op == "!=":
            return lab.fmt("held_not_equal", **values)
        return lab.fmt("held_compare", op=lab[_OP_KEY[op]], neg_op=lab[_OP_KEY[_NEGATE[op]]], **values)
    if op == "absent":
        return lab.fmt("failed_absent", **values)
    if test.absent and op == "exists" and flag:
        return lab.fmt("failed_none", **values)
    if test.missing and not test.absent:  # a value that means "not known", e.g. imaging not done
        return lab.fmt("failed_unknown_value", **values)
    if test.missing or (test.absent and op == "exists"):
        return lab.fmt("failed_missing", **values)
    if test.absent:  # a flag namespace: absence means "no" / "none"
        if head in ("prior", "prior_response", "prior_line"):
            return lab.fmt("failed_prior_none", **values)
        if head == "derived":
            return lab.fmt("failed_derived_none", **values)
        return lab.fmt("failed_flag", **values)
    if op == "==":
        return lab.fmt("failed_equal", **values)
    if op == "!=":
        return lab.fmt("failed_not_equal", **values)
    return lab.fmt("failed_compare", op=lab[_OP_KEY[op]], **values)


def _capitalise(text: str) -> str:
    """Upper-case the first letter of a lower-case first word (``eGFR`` stays as it is)."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.islower() else text


def track_summary(lab: Labels, option: str, tr: TrackExplanation) -> str:
    """Where the option stands in one track, in one or two sentences."""
    name = lab.option(option)
    phrase = lab.track_phrase(tr.track)
    if tr.status in ("first", "ranked"):
        assert tr.category is not None
        common = {"option": name, "track": phrase, "rank": tr.rank, "score": tr.score,
                  "category": lab[tr.category]}
        ceiling = (" " + lab.fmt("ceiling_note", level=lab[f"safety_{tr.safety_level}"],
                                 category=lab[tr.category])) if tr.safety_level else ""
        if tr.status == "first":
            return lab.fmt("status_first", **common) + ceiling
        assert tr.first_option is not None
        summary = lab.fmt("status_ranked", first=lab.option(tr.first_option), first_score=tr.first_score,
                          **common) + ceiling
        if tr.score == tr.first_score and not ceiling:
            summary += " " + lab["tie_note"]
        return summary
    if tr.status == "excluded":
        return lab.fmt("status_excluded", option=name, track=phrase)
    summary = lab.fmt("status_not_proposed", option=name, track=phrase)
    if not tr.pathways:
        summary += " " + lab.fmt("no_proposal_edge", option=name, track=phrase)
    elif not any(pw.in_population for pw in tr.pathways):
        titles = ", ".join(_quoted(lab, lab.pathway(pw.pathway)) for pw in tr.pathways)
        summary += " " + lab.fmt("only_other_populations", pathways=titles)
    return summary


def _quoted(lab: Labels, text: str) -> str:
    return f"“{text}”" if lab.lang == "en" else f"« {text} »"


def changes(lab: Labels, x: Explanation) -> list[str]:
    """What would change the result, one line per datum (first occurrence first).

    Several values of one datum that would each do (stage localized or locoregional)
    share one line.
    """
    merged: dict[tuple[str, ...], LeafCheck] = {}
    for t in x.changes:
        if not t.held and t.op == "==" and not t.missing:
            key = ("==", t.path)
            if key in merged:
                before = merged[key]
                values = before.expected if isinstance(before.expected, list) else [before.expected]
                if t.expected not in values:
                    merged[key] = before.model_copy(update={"expected": [*values, t.expected]})
                continue
            merged[key] = t
        else:
            merged[("", t.model_dump_json())] = t
    return list(dict.fromkeys(leaf_sentence(lab, t) for t in merged.values()))


def summary(lab: Labels, x: Explanation) -> str:
    """Every track's summary, one after the other."""
    return " ".join(track_summary(lab, x.option, tr) for tr in x.tracks)


# ------------------------------------------------------------------ views


def why_not_view(x: Explanation, lab: Labels) -> WhyNotView:
    """The explanation of one option, every sentence written, for any renderer."""
    tracks = []
    for tr in x.tracks:
        groups: list[GroupView] = []
        if tr.exclusions:
            groups.append(GroupView(lab["exclusions"], [_rule_reason(lab, r) for r in tr.exclusions]))
        if tr.against:
            groups.append(GroupView(lab["arguments_against"], [_rule_reason(lab, r) for r in tr.against]))
        if tr.proposals_not_applied:
            groups.append(GroupView(lab["proposals_not_applied"],
                                    [_edge_reason(lab, e) for e in tr.proposals_not_applied]))
        if tr.rules_not_applied:
            groups.append(GroupView(lab["rules_not_applied"],
                                    [_rule_reason(lab, r) for r in tr.rules_not_applied]))
        for pw in tr.pathways:
            status = lab["pathway_entered"] if pw.entered else (
                lab["pathway_not_entered"] if pw.in_population else lab["pathway_other_population"])
            reasons: list[ReasonView] = []
            if pw.entry:
                reasons.append(ReasonView(
                    id=pw.pathway, text=lab["entry_conditions"], detail="",
                    conditions=_conditions(lab, pw.entry),
                ))
            reasons.extend(_edge_reason(lab, e) for e in pw.proposals)
            groups.append(GroupView(f"{lab.pathway(pw.pathway)} — {status}", reasons))
        tracks.append(WhyTrackView(tr.track, lab.track(tr.track), tr.status,
                                   track_summary(lab, x.option, tr), groups))
    ranked = any(tr.status == "ranked" for tr in x.tracks)
    lines = changes(lab, x)
    label = lab.option(x.option)
    return WhyNotView(
        option=x.option, label=label, title=lab.fmt("explain_title", option=label),
        tracks=tracks, changes=lines, missing=[lab.field(m) for m in x.missing],
        note=lab["nothing_to_change"] if ranked and not lines else None,
        summary=" ".join(t.summary for t in tracks),
    )


def _detail(parts: Iterable[str]) -> str:
    return " · ".join(p for p in parts if p)


def _rule_reason(lab: Labels, rule: RuleCheck) -> ReasonView:
    sign = {"for": "+", "against": "-", "exclude": ""}[rule.direction]
    if rule.safety_level in ("avoid", "caution"):
        strength = lab[f"safety_{rule.safety_level}"]  # a ceiling: it has no weight to show
    else:
        strength = f"{sign}{rule.strength}" if rule.direction != "exclude" else lab["excluded_arg"]
    sources = ", ".join(lab.source(s) for s in rule.sources)
    return ReasonView(
        id=rule.rule,
        text=rule.text,
        detail=_detail([strength, sources, lab.evidence(rule.evidence_kind, rule.evidence_level),
                        lab["unconfirmed"].upper() if rule.unconfirmed else ""]),
        conditions=_conditions(lab, rule.conditions),
    )


def _edge_reason(lab: Labels, edge: EdgeCheck) -> ReasonView:
    from_label = lab.node(edge.from_node)
    where = lab.fmt("from_reached" if edge.from_reached else "from_not_reached", node=from_label)
    if edge.to_node is not None:
        where = lab.fmt("edge_to", from_node=from_label, to_node=lab.node(edge.to_node))
    applied = lab["edge_applied"] if edge.fired else lab["edge_not_applied"]
    sources = ", ".join(lab.source(s) for s in edge.sources)
    strength = f"+{edge.strength}" if edge.strength is not None else ""
    return ReasonView(
        id=edge.edge,
        text=edge.text or "",
        detail=_detail([strength, sources]),
        conditions=_conditions(lab, edge.conditions),
        status=f"{where} — {applied}",
        blocked_by=[_edge_reason(lab, b) for b in edge.blocked_by],
    )


def _conditions(lab: Labels, checks: Sequence[ConditionCheck]) -> list[ConditionView]:
    """One view per condition; a test already shown for the same rule or edge is not repeated
    (``Ki-67 >= 10`` and ``Ki-67 <= 55`` on an unknown Ki-67 say the same thing)."""
    seen: set[str] = set()
    out = []
    for check in checks:
        # A test that needs the datum to be unknown is not something to act on: left out.
        shown = [t for t in check.tests if t.held or t.op != "absent"]
        tests = [text for text in (leaf_sentence(lab, t) for t in shown) if text not in seen]
        seen.update(tests)
        if not tests:
            continue
        hint = None
        if len(tests) > 1:
            hint = lab["any_of"] if check.any_of else lab["all_of"]
        out.append(ConditionView(hint, tests))
    return out
