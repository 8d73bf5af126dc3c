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
    """One condition of a rule or edge in a why-not, for the renderers: its tests as sentences
    (:func:`leaf_sentence`), under a ``hint`` when several decide together ("any one of
    these would do", "all of these")."""

    hint: str | None  # "any one of these would do" when several tests decide together
    tests: list[str]


@dataclass(frozen=True)
class ReasonView:
    """One rule or pathway edge in a why-not explanation, every sentence written.

    ``text`` is the knowledge's reason; ``detail`` its weight, sources and evidence on one
    line; ``status`` where an edge starts and whether it applied; ``blocked_by`` the edges
    on the way to a step the patient did not reach. A view record built by :func:`why_not_view`.
    """

    id: str
    text: str
    detail: str
    conditions: list[ConditionView]
    status: str = ""  # e.g. "from step “X” (reached) — did not apply"
    blocked_by: list[ReasonView] = field(default_factory=list)


@dataclass(frozen=True)
class GroupView:
    """The reasons of one kind under their heading (exclusions, arguments against, proposals
    that did not apply, one pathway ...), for the renderers of a why-not."""

    title: str
    reasons: list[ReasonView]


@dataclass(frozen=True)
class WhyTrackView:
    """Where the option stands in one track, for the renderers: the track's heading, the
    status, a summary in words (:func:`track_summary`) and the groups of reasons."""

    track: str
    title: str
    status: str
    summary: str
    groups: list[GroupView]


@dataclass(frozen=True)
class WhyNotView:
    """The why-not of one option, every sentence written in the report language: what every
    renderer of an explanation lays out (``cds explain`` as text or Markdown, the why-not
    section of the tumour-board report). Built by :func:`why_not_view`."""

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

    Parameters
    ----------
    lab
        The words of the report language (:func:`cds.render.i18n.labels`).
    test
        The test, from an :class:`~cds.explain.Explanation`.

    Returns
    -------
    str
        The field's label, the patient's value (or "unknown") and, for a test that held,
        the value at which it would not apply; for one that failed, the value it would need.

    Examples
    --------
    >>> from cds.render.i18n import labels
    >>> t = LeafCheck(path="tumour.ki67_percent", op=">=", expected=10, actual=5, absent=False,
    ...               missing=False, held=False)
    >>> leaf_sentence(labels("en"), t)
    'Ki-67: 5 % — would need >= 10 %'
    >>> leaf_sentence(labels("fr"), t.model_copy(update={"held": True}))
    "Ki-67 : 5 % (>= 10 %) — ne s'appliquerait pas si Ki-67 < 10 %"
    >>> leaf_sentence(labels("en"), t.model_copy(update={"actual": None, "absent": True, "missing": True}))
    'Ki-67: unknown — to be provided'
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
    """Where the option stands in one track, in one or two sentences.

    Parameters
    ----------
    lab
        The words of the report language, over the knowledge base (option labels).
    option
        The option explained.
    tr
        Its explanation in one track.

    Returns
    -------
    str
        The rank, score and category against the first option's, with the safety ceiling
        that holds it back; or that it is excluded; or that it was not proposed (and, when
        no pathway of the patient's population proposes it, which pathways do).

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.explain import explain
    >>> from cds.render.i18n import labels
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "surgery_curative")
    >>> print(track_summary(labels("en", default_engine().kb), x.option, x.tracks[0]))
    Surgery with curative intent is ranked 3 in the anti-tumour track (not recommended, score 2); \
Watchful waiting (active surveillance) is first with score 5. A safety statement (avoid) caps it at \
not recommended whatever its score; safety does not weigh in the score (see the arguments against).
    """
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

    Parameters
    ----------
    lab
        The words of the report language.
    x
        The explanation (its :attr:`~cds.explain.Explanation.changes`).

    Returns
    -------
    list[str]
        One sentence per datum (:func:`leaf_sentence`), without repeats.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.explain import explain
    >>> from cds.render.i18n import labels
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "ssa")
    >>> changes(labels("fr"), x)
    ['Résécable à visée curative : inconnu — à renseigner']

    Two values of the stage, either of which would do, share one line:

    >>> from cds.explain import Explanation
    >>> needs = [LeafCheck(path="disease.stage", op="==", expected=stage, actual="metastatic",
    ...                    absent=False, missing=False, held=False) for stage in ("localized", "locoregional")]
    >>> changes(labels("en"), Explanation(option="surgery_curative", language="en", knowledge_version="1",
    ...                                   tracks=[], changes=needs, missing=[]))
    ['Stage: metastatic — would need localized or locoregional']
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


# ------------------------------------------------------------------ views


def why_not_view(x: Explanation, lab: Labels) -> WhyNotView:
    """The explanation of one option, every sentence written, for any renderer.

    Parameters
    ----------
    x
        The explanation (:func:`cds.explain.explain_detail`).
    lab
        The words of the report language, over the knowledge base (labels of options,
        pathways, steps and sources; ids without it).

    Returns
    -------
    WhyNotView
        Title, per track a summary and the groups of reasons, what would change the result
        and the missing data; ``note`` when nothing in the data explains a gap in score.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.explain import explain
    >>> from cds.render.i18n import labels
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "ssa")
    >>> view = why_not_view(x, labels("en", default_engine().kb))
    >>> view.title, view.changes, view.missing
    ('Why not Somatostatin analogue (octreotide LAR, lanreotide)?', \
['Resectable with curative intent: unknown — to be provided'], ['Disease status', 'Resectable with curative intent'])
    >>> reason = view.tracks[0].groups[1].reasons[0]     # the pancreatic NET pathway
    >>> reason.id, reason.detail, [b.id for b in reason.blocked_by]
    ('pnet.fl.propose_ssa_low_ki67', '+3 · CLARINET, ESMO 2020, ENETS 2023 NF-pNET', \
['pnet.to_advanced_locally_unresectable'])
    >>> reason.status
    'from step “First line for NET G1-G2 (or grade unknown)” (not reached) — did not apply'
    """
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
