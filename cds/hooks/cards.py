"""CDS Hooks cards from a recommendation: pure functions, no evaluation here.

``patient-view`` gets one card per track (its top options, the leading arguments and their
sources), one per critical or warning alert, and one for the data still missing or the mapping
problems. ``order-select`` / ``order-sign`` get a card for each draft order whose option is
excluded for this patient (critical), capped at *avoid* (critical) or at *caution* (warning),
with a suggestion to remove the draft order when the option is excluded or avoided. An order
netcds has no concern about gets no card: the spec asks for an empty ``cards`` array when a
service has no decision support, and a stream of "nothing to say" cards trains users to dismiss
cards unread.

Every card carries a deterministic ``uuid`` (UUID 5 of the service, the rule or alert, and the
SHA-256 of the mapped patient), so the same input gives the same cards and feedback can name
them; its ``source`` names the software and knowledge versions; its ``detail`` ends with the
statement that netcds supports the tumour board's decision and does not replace it.

Language: the cards speak the language of :attr:`CardContext.lang` (``cds hooks serve --lang``).
The recommendation already carries its texts in that language (option labels, arguments, alerts);
the cards' own framing (track titles, "For"/"Against", link labels, topics, override reasons,
suggestion labels, summary prefixes) comes from the ``hooks_*`` entries of
``renderers/i18n.yaml`` through :func:`cds.render.i18n.labels`, and the closing statement from
:func:`cds.model.recommendation.disclaimer_in`. Codes stay the same in every language (topic
and override-reason codes, field paths), and so do the uuids: a card's uuid names what raised
it (service, rule, patient data), not its wording, so feedback on a French card and on its
English twin name the same rule.

Spec: CDS Hooks ``docs/specification/current.md`` (github:cds-hooks/docs, commit 462a38f),
"Card Attributes" (``summary`` under 140 characters, ``indicator`` info / warning / critical,
``source`` label / url / topic, ``suggestions`` with ``selectionBehavior``, ``overrideReasons``
codings with a ``display``, ``links`` label / url / type ``absolute``) and "Action" (``delete``
with ``resourceId``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cds.model.recommendation import TRACKS, Alert, Argument, Lang, Recommendation, Track, disclaimer_in
from cds.render.i18n import Labels, labels
from cds.version import SOFTWARE_VERSION

#: Longest summary (the spec: a "<140-character" sentence).
SUMMARY_MAX = 139
#: Options shown per track on a patient-view card.
TOP_OPTIONS = 3
#: Namespace of the cards' UUID 5.
CARD_NAMESPACE = uuid.UUID("6f1c7b1e-4a8e-5c2d-9b7a-0d3e2f1a6c55")
#: Code system of the card topics.
TOPIC_SYSTEM = "urn:netcds:cds-hooks:topic"
#: Code system of the override reasons.
OVERRIDE_SYSTEM = "urn:netcds:cds-hooks:override-reason"
#: Override reason codes of a patient-view card: the tumour board's deviation reasons (cds.board.store);
#: their words are ``hooks_override_<code>`` in ``renderers/i18n.yaml``.
BOARD_OVERRIDE_REASONS: tuple[str, ...] = (
    "patient_preference", "comorbidity_or_frailty", "trial_inclusion", "data_the_system_lacks",
    "disagreement_with_guideline", "other",
)
#: Override reason codes of a safety card on an order.
SAFETY_OVERRIDE_REASONS: tuple[str, ...] = (
    "board_decision", "data_out_of_date", "benefit_outweighs_risk", "patient_informed_choice", "other",
)
#: Indicator of an order whose option is capped at each safety level.
ORDER_INDICATORS: dict[str, Literal["critical", "warning"]] = {
    "exclude": "critical", "avoid": "critical", "caution": "warning",
}


@dataclass(frozen=True)
class CardContext:
    """What every card of one call shares: the service, the patient's hash, the links, the language.

    ``lang`` words the cards; it takes no part in their uuids (see the module's docstring).

    Examples
    --------
    >>> CardContext("netcds-patient-view", "ab" * 32).report_url is None
    True
    >>> CardContext("netcds-patient-view", "0", lang="fr").words["hooks_link_report"]
    'Compte rendu netcds complet'
    """

    service: str
    patient_hash: str
    report_url: str | None = None
    board_url: str | None = None
    lang: Lang = "en"

    @property
    def words(self) -> Labels:
        """The fixed words of the cards in :attr:`lang` (``renderers/i18n.yaml``)."""
        return labels(self.lang)


@dataclass(frozen=True)
class DraftOrder:
    """A draft order and the netcds options it is for (``cds.fhir.orders.options_of_order``).

    Examples
    --------
    >>> DraftOrder("MedicationRequest/1", "Lutetium-177 dotatate", ("prrt",)).options
    ('prrt',)
    """

    reference: str
    label: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class DataGap:
    """A datum to complete in the EHR (missing, ambiguous, or refused by the mapper) and why.

    Examples
    --------
    >>> DataGap("tumour.ki67_percent", "Ki-67 decides the grade.").field
    'tumour.ki67_percent'
    """

    field: str
    why: str


def card_uuid(service: str, rule: str, patient_hash: str) -> str:
    """The card's UUID: the same service, rule and patient give the same UUID.

    Parameters
    ----------
    service
        The service id.
    rule
        What raised the card (a track, an alert id, an order and option).
    patient_hash
        SHA-256 of the mapped patient.

    Returns
    -------
    str
        A UUID 5.

    Examples
    --------
    >>> card_uuid("s", "alert.x", "0") == card_uuid("s", "alert.x", "0") != card_uuid("s", "alert.y", "0")
    True
    """
    return str(uuid.uuid5(CARD_NAMESPACE, f"{service}|{rule}|{patient_hash}"))


def summary(text: str) -> str:
    """One line under 140 characters (cut on a word, with an ellipsis, when longer).

    Parameters
    ----------
    text
        The sentence.

    Returns
    -------
    str
        At most :data:`SUMMARY_MAX` characters.

    Examples
    --------
    >>> len(summary("word " * 60)) <= SUMMARY_MAX
    True
    """
    line = " ".join(text.split())
    if len(line) <= SUMMARY_MAX:
        return line
    cut = line[: SUMMARY_MAX - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def override_reasons(codes: Iterable[str], lang: str = "en") -> list[dict[str, str]]:
    """The ``overrideReasons`` codings of ``codes``, their ``display`` in ``lang`` (the codes never change).

    Parameters
    ----------
    codes
        :data:`BOARD_OVERRIDE_REASONS` or :data:`SAFETY_OVERRIDE_REASONS`.
    lang
        ``en`` or ``fr``.

    Returns
    -------
    list of dict
        ``system``, ``code``, ``display``.

    Examples
    --------
    >>> [r["display"] for r in override_reasons(("trial_inclusion", "other"), "fr")]
    ['Inclusion dans un essai clinique', 'Autre motif']
    """
    words = labels(lang)
    return [{"system": OVERRIDE_SYSTEM, "code": code, "display": words[f"hooks_override_{code}"]} for code in codes]


def source(knowledge_version: str, topic: str, display: str, url: str | None = None) -> dict[str, Any]:
    """The card's source: netcds and the knowledge version, with the card's topic.

    Parameters
    ----------
    knowledge_version
        The knowledge version of the recommendation.
    topic
        Topic code (``anti_tumour``, ``alert``, ``missing_data``, ``order_safety`` ...).
    display
        Its words.
    url
        Where to read about the source (the leading guideline's link), if any.

    Returns
    -------
    dict
        ``label``, ``topic`` and perhaps ``url``.

    Examples
    --------
    >>> source("2026.1", "alert", "Alert")["label"] == f"netcds {SOFTWARE_VERSION} / knowledge 2026.1"
    True
    """
    out: dict[str, Any] = {"label": f"netcds {SOFTWARE_VERSION} / knowledge {knowledge_version}",
                           "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": display}}
    if url:
        out["url"] = url
    return out


def _links(ctx: CardContext) -> list[dict[str, str]]:
    words = ctx.words
    links = []
    if ctx.report_url:
        links.append({"label": words["hooks_link_report"], "url": ctx.report_url, "type": "absolute"})
    if ctx.board_url:
        links.append({"label": words["hooks_link_board"], "url": ctx.board_url, "type": "absolute"})
    return links


def _cite(rec: Recommendation, ids: Sequence[str], words: Labels) -> str:
    refs = {r.id: r for r in rec.references}
    parts = []
    for sid in ids:
        ref = refs.get(sid)
        label = ref.label if ref and ref.label else sid
        link = ref.link if ref else None
        parts.append(f"[{_md(label)}]({link})" if link else _md(label))
    return _list_sep(words).join(parts)


def _list_sep(words: Labels) -> str:
    """``"; "`` in English, ``" ; "`` in French (a space before the semicolon)."""
    return words["semicolon"] + " "


def _first_link(rec: Recommendation, ids: Sequence[str]) -> str | None:
    refs = {r.id: r for r in rec.references}
    for sid in ids:
        if sid in refs and refs[sid].link:
            return refs[sid].link
    return None


def _md(text: str) -> str:
    """Text safe inside markdown: the characters that would start markup or a link are escaped."""
    out = text
    for char in "\\`*_[]<>#|":
        out = out.replace(char, "\\" + char)
    return out


def _argument_line(rec: Recommendation, arg: Argument, words: Labels) -> str:
    head = words[f"hooks_arg_{arg.direction}"]
    if arg.kind == "safety" and arg.safety_level:
        head = words.fmt("hooks_arg_safety", level=words[f"hooks_level_{arg.safety_level}"])
    cited = _cite(rec, arg.sources, words)
    return words.fmt("hooks_argument", head=head, text=_md(arg.text)) + (f" ({cited})" if cited else "")


def _leading(args: Sequence[Argument]) -> list[Argument]:
    """The arguments a card shows: the two strongest for, the strongest against, every safety flag."""
    pro = sorted((a for a in args if a.direction == "for"), key=lambda a: -a.strength)[:2]
    con = sorted((a for a in args if a.direction == "against" and a.kind == "efficacy"), key=lambda a: -a.strength)[:1]
    safety = [a for a in args if a.kind == "safety"]
    return [*pro, *con, *safety]


def _closing(text: str, lang: str) -> str:
    """The statement that ends every detail, in ``lang`` (a site's own disclaimer is kept as it is)."""
    return f"\n\n---\n_{_md(disclaimer_in(text, lang))}_"


def track_card(rec: Recommendation, track: Track, ctx: CardContext) -> dict[str, Any] | None:
    """The card of one track: its top options with their leading arguments (None when it ranks nothing).

    Parameters
    ----------
    rec
        The recommendation.
    track
        ``anti_tumour`` or ``antisecretory``.
    ctx
        The call's shared card data.

    Returns
    -------
    dict or None
        An ``info`` card.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, '
    ...     '"ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}'), surveillance=False)
    >>> print(track_card(rec, "anti_tumour", CardContext("netcds-patient-view", "0"))["summary"])
    Anti-tumour treatment: 1. Watchful waiting (active surveillance): recommended; 2. Surgery with curative intent: ...
    """
    ranked = getattr(rec, track)[:TOP_OPTIONS]
    if not ranked:
        return None
    words = ctx.words
    title = words.track(track)
    listed = _list_sep(words).join(words.fmt("hooks_option_item", rank=o.rank, label=o.label,
                                 category=words[f"hooks_category_{o.category}"]) for o in ranked)
    lines = [words.fmt("hooks_track_intro", title=f"**{title}**"), ""]
    sources: list[str] = []
    for option in ranked:
        level = words[f"hooks_level_{option.safety_level}"] if option.safety_level else ""
        flag = words.fmt("hooks_capped", level=f"*{level}*") if option.safety_level else ""
        lines.append(words.fmt("hooks_option_line", rank=option.rank, label=f"**{_md(option.label)}**",
                               category=words[f"hooks_category_{option.category}"], score=option.score, flag=flag))
        for arg in _leading(option.arguments):
            lines.append(f"    - {_argument_line(rec, arg, words)}")
            sources.extend(arg.sources)
        if option.conditional_on:
            fields = ", ".join(f"`{f}`" for f in option.conditional_on)
            lines.append(f"    - {words.fmt('hooks_depends_on', fields=fields)}")
    excluded = [x for x in rec.excluded if x.track == track]
    if excluded:
        lines += ["", words["hooks_excluded_head"]]
        for option_out in excluded:
            why = option_out.reasons[0] if option_out.reasons else None
            label = f"**{_md(option_out.label)}**"
            lines.append("- " + (words.fmt("hooks_excluded_item", label=label, reason=_argument_line(rec, why, words))
                                 if why else label))
    more = len(getattr(rec, track)) - len(ranked)
    if more > 0:
        lines += ["", words.fmt("hooks_more_options", n=more)]
    return {
        "uuid": card_uuid(ctx.service, f"track.{track}", ctx.patient_hash),
        "summary": summary(words.fmt("hooks_track_summary", title=title, options=listed)),
        "detail": "\n".join(lines) + _closing(rec.disclaimer, ctx.lang),
        "indicator": "info",
        "source": source(rec.knowledge_version, track, title, _first_link(rec, sources)),
        "overrideReasons": override_reasons(BOARD_OVERRIDE_REASONS, ctx.lang),
        "links": _links(ctx),
    }


def alert_card(rec: Recommendation, alert: Alert, ctx: CardContext) -> dict[str, Any]:
    """The card of one alert (its indicator is the alert's severity).

    Parameters
    ----------
    rec
        The recommendation.
    alert
        A critical or warning alert.
    ctx
        The call's shared card data.

    Returns
    -------
    dict
        The card.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'), surveillance=False)
    >>> card = alert_card(rec, rec.alerts[0], CardContext("netcds-patient-view", "0"))
    >>> card["indicator"] == rec.alerts[0].severity
    True
    """
    words = ctx.words
    title = alert.title or alert.id.replace("_", " ")
    lines = [f"**{_md(title)}**", "", _md(alert.text)]
    if alert.action:
        lines += ["", words.fmt("hooks_alert_action", action=_md(alert.action))]
    cited = _cite(rec, alert.sources, words)
    if cited:
        lines += ["", words.fmt("hooks_alert_sources", sources=cited)]
    return {
        "uuid": card_uuid(ctx.service, f"alert.{alert.id}", ctx.patient_hash),
        "summary": summary(words.fmt("hooks_alert_summary", title=title, text=alert.text)),
        "detail": "\n".join(lines) + _closing(rec.disclaimer, ctx.lang),
        "indicator": alert.severity,
        "source": source(rec.knowledge_version, "alert", words["hooks_topic_alert"], _first_link(rec, alert.sources)),
        "links": _links(ctx),
    }


def gaps_card(gaps: Sequence[DataGap], ctx: CardContext, knowledge_version: str, disclaimer: str,
              *, blocked: str | None = None) -> dict[str, Any] | None:
    """The card of the data to complete (``info``); None when nothing is missing.

    Parameters
    ----------
    gaps
        The fields to complete and why.
    ctx
        The call's shared card data.
    knowledge_version
        The knowledge version named in the source.
    disclaimer
        The statement that netcds supports the board's decision (the stock English one is given in
        ``ctx.lang``).
    blocked
        Why netcds could not rank at all (no primary site), in ``ctx.lang``, when so.

    Returns
    -------
    dict or None
        The card.

    Examples
    --------
    >>> card = gaps_card([DataGap("tumour.primary_site", "not in the FHIR data")], CardContext("s", "0"), "k", "d",
    ...                  blocked="the primary site of the tumour is not in the FHIR data")
    >>> card["summary"]
    'netcds cannot rank the options: the primary site of the tumour is not in the FHIR data'
    >>> gaps_card([DataGap("ecog", "l'ECOG conditionne la chimiothérapie")], CardContext("s", "0", lang="fr"), "k",
    ...           "d")["summary"]
    'Données à compléter pour un classement plus complet (1) : ecog'
    """
    if not gaps and blocked is None:
        return None
    words = ctx.words
    names = ", ".join(g.field for g in gaps)
    head = (words.fmt("hooks_cannot_rank", why=blocked) if blocked
            else words.fmt("hooks_missing_summary", n=len(gaps), fields=names))
    lines = [f"**{words['hooks_gaps_title']}**", ""]
    lines += ["- " + words.fmt("hooks_gap_line", field=f"`{g.field}`", why=_md(g.why)) for g in gaps]
    return {
        "uuid": card_uuid(ctx.service, "missing_data", ctx.patient_hash),
        "summary": summary(head),
        "detail": "\n".join(lines) + _closing(disclaimer, ctx.lang),
        "indicator": "info",
        "source": source(knowledge_version, "missing_data", words["hooks_topic_missing_data"]),
        "links": _links(ctx),
    }


def patient_view_cards(rec: Recommendation, gaps: Sequence[DataGap], ctx: CardContext) -> list[dict[str, Any]]:
    """Every card of ``patient-view``: critical alerts first, then the tracks, warnings, missing data.

    Parameters
    ----------
    rec
        The recommendation.
    gaps
        Mapping problems and ambiguous fields to add to the recommendation's missing data.
    ctx
        The call's shared card data.

    Returns
    -------
    list of dict
        The cards.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, '
    ...     '"ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}'), surveillance=False)
    >>> [c["indicator"] for c in patient_view_cards(rec, [], CardContext("netcds-patient-view", "0"))][:2]
    ['info', 'warning']
    """
    cards = [alert_card(rec, a, ctx) for a in rec.alerts if a.severity == "critical"]
    cards += [c for c in (track_card(rec, t, ctx) for t in TRACKS) if c is not None]
    cards += [alert_card(rec, a, ctx) for a in rec.alerts if a.severity == "warning"]
    missing = [DataGap(m.field, m.why) for m in rec.missing_data]
    seen = {g.field for g in missing}
    missing += [g for g in gaps if g.field not in seen]
    gap = gaps_card(missing, ctx, rec.knowledge_version, rec.disclaimer)
    if gap is not None:
        cards.append(gap)
    return cards


def order_cards(rec: Recommendation, orders: Sequence[DraftOrder], ctx: CardContext) -> list[dict[str, Any]]:
    """The safety cards of draft orders: one per order and option excluded or capped for this patient.

    Parameters
    ----------
    rec
        The recommendation.
    orders
        The draft orders to check, with the options they are for.
    ctx
        The call's shared card data.

    Returns
    -------
    list of dict
        Critical cards (excluded, or capped at avoid) with a suggestion to remove the draft order,
        warning cards (capped at caution); nothing for an order netcds has no concern about.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, '
    ...     '"ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}'), surveillance=False)
    >>> order_cards(rec, [DraftOrder("ServiceRequest/1", "Pancreatectomy", ("surgery_curative",))],
    ...             CardContext("netcds-order-sign", "0"))
    []
    """
    cards: list[dict[str, Any]] = []
    for order in orders:
        for option in order.options:
            found = _concern(rec, option)
            if found is None:
                continue
            level, label, reasons = found
            cards.append(_order_card(rec, order, option, level, label, reasons, ctx))
    return cards


def _concern(rec: Recommendation, option: str) -> tuple[str, str, list[Argument]] | None:
    for excluded in rec.excluded:
        if excluded.option == option:
            return "exclude", excluded.label, list(excluded.reasons)
    for track in TRACKS:
        for ranked in getattr(rec, track):
            if ranked.option == option and ranked.safety_level is not None:
                flags = [a for a in ranked.arguments if a.kind == "safety"]
                return ranked.safety_level, ranked.label, flags
    return None


def _order_card(rec: Recommendation, order: DraftOrder, option: str, level: str, label: str,
                reasons: Sequence[Argument], ctx: CardContext) -> dict[str, Any]:
    words = ctx.words
    verdict = words[f"hooks_verdict_{level}"]
    first = reasons[0].text if reasons else ""
    lines = [words.fmt("hooks_order_detail", order=f"**{_md(order.label)}**", option=_md(label), verdict=verdict), ""]
    lines += [f"- {_argument_line(rec, r, words)}" for r in reasons]
    sources = [s for r in reasons for s in r.sources]
    rule = f"order.{order.reference}.{option}"
    card: dict[str, Any] = {
        "uuid": card_uuid(ctx.service, rule, ctx.patient_hash),
        "summary": summary(words.fmt("hooks_order_summary", order=order.label, verdict=verdict, reason=first)),
        "detail": "\n".join(lines) + _closing(rec.disclaimer, ctx.lang),
        "indicator": ORDER_INDICATORS[level],
        "source": source(rec.knowledge_version, "order_safety", words["hooks_topic_order_safety"],
                         _first_link(rec, sources)),
        "overrideReasons": override_reasons(SAFETY_OVERRIDE_REASONS, ctx.lang),
        "links": _links(ctx),
    }
    if level in ("exclude", "avoid"):
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = [{
            "label": words.fmt("hooks_remove_label", order=order.label),
            "uuid": card_uuid(ctx.service, rule + ".remove", ctx.patient_hash),
            "isRecommended": level == "exclude",
            "actions": [{"type": "delete", "description": words.fmt("hooks_remove_action", order=order.label,
                                                                     option=label),
                         "resourceId": order.reference}],
        }]
    return card
