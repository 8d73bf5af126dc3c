"""A ClinicalTrials.gov API v2 study record -> a trial catalogue entry, criteria as text (``cds trials import``).

The input is what ``https://clinicaltrials.gov/api/v2/studies/NCT...`` returns (one study object)
or a search export (``{"studies": [...]}``), saved to a file: nothing is fetched. Read from
``protocolSection``:

- ``identificationModule``: ``nctId``, ``acronym``, ``officialTitle`` (``briefTitle`` when there is
  none), and an EudraCT or CTIS number from ``secondaryIdInfos`` (types ``EUDRACT_NUMBER``, ``CTIS``);
- ``statusModule``: ``overallStatus`` -> ``status`` (lower snake case; ``ENROLLING_BY_INVITATION`` ->
  ``active_not_recruiting``, anything else unknown -> ``unknown``, each said in ``note``);
  ``status_checked_on`` is the day given by the caller (the day the file was downloaded, when
  known), else ``lastUpdatePostDateStruct.date``: the record's last posting, the latest day the
  registry vouches for its status. ``statusVerifiedDate`` is only a month, and the sponsor's
  word, so it is not used. The note says which date was taken;
- ``designModule.phases`` -> ``phase`` (``PHASE1`` + ``PHASE2`` -> ``1/2``; ``EARLY_PHASE1`` -> ``1``);
- ``armsInterventionsModule.armGroups`` -> ``arms`` (label and intervention names; options left to the author);
- ``contactsLocationsModule.locations`` -> ``countries`` (ISO codes of :data:`COUNTRY_CODES`, other names
  in ``note``) and ``french_centres`` (facility and city of the sites in France);
- ``eligibilityModule.eligibilityCriteria`` -> one criterion per bullet, ``inclusion`` or ``exclusion``
  by its section, sub-bullets joined to their bullet, Markdown escapes removed, **no** ``when``:
  the author encodes what the condition language can say.

Examples
--------
>>> study = {"protocolSection": {
...     "identificationModule": {"nctId": "NCT00000001", "briefTitle": "Demo", "acronym": "DEMO"},
...     "statusModule": {"overallStatus": "RECRUITING", "lastUpdatePostDateStruct": {"date": "2026-11-02"}},
...     "designModule": {"phases": ["PHASE2", "PHASE3"]},
...     "eligibilityModule": {"eligibilityCriteria": "Inclusion Criteria:\\n\\n* Age \\\\>= 18\\n\\n"
...                                                  "Exclusion Criteria:\\n\\n* Pregnancy"}}}
>>> entry = trial_from_study(study)
>>> entry.id, entry.phase, entry.status, entry.status_checked_on.isoformat()
('demo', '2/3', 'recruiting', '2026-11-02')
>>> [(c.id, c.kind, c.text) for c in entry.criteria]
[('inc_01', 'inclusion', 'Age >= 18'), ('exc_01', 'exclusion', 'Pregnancy')]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from cds.errors import CdsError
from cds.trials.model import TrialSpec

#: ClinicalTrials.gov's ``overallStatus`` -> the catalogue's status.
STATUS_MAP: dict[str, str] = {
    "NOT_YET_RECRUITING": "not_yet_recruiting",
    "RECRUITING": "recruiting",
    "ACTIVE_NOT_RECRUITING": "active_not_recruiting",
    "ENROLLING_BY_INVITATION": "active_not_recruiting",
    "COMPLETED": "completed",
    "TERMINATED": "terminated",
    "SUSPENDED": "suspended",
    "WITHDRAWN": "withdrawn",
    "UNKNOWN": "unknown",
}
#: Country names as ClinicalTrials.gov writes them -> ISO 3166 alpha-2 (those where NET trials run);
#: a name not listed is kept out of ``countries`` and named in the note.
COUNTRY_CODES: dict[str, str] = {
    "Argentina": "AR", "Australia": "AU", "Austria": "AT", "Belgium": "BE", "Brazil": "BR", "Bulgaria": "BG",
    "Canada": "CA", "Chile": "CL", "China": "CN", "Croatia": "HR", "Czechia": "CZ", "Czech Republic": "CZ",
    "Denmark": "DK", "Estonia": "EE", "Finland": "FI", "France": "FR", "Germany": "DE", "Greece": "GR",
    "Hong Kong": "HK", "Hungary": "HU", "India": "IN", "Ireland": "IE", "Israel": "IL", "Italy": "IT",
    "Japan": "JP", "Korea, Republic of": "KR", "Latvia": "LV", "Lithuania": "LT", "Luxembourg": "LU",
    "Mexico": "MX", "Netherlands": "NL", "New Zealand": "NZ", "Norway": "NO", "Poland": "PL", "Portugal": "PT",
    "Romania": "RO", "Russian Federation": "RU", "Serbia": "RS", "Singapore": "SG", "Slovakia": "SK",
    "Slovenia": "SI", "South Africa": "ZA", "Spain": "ES", "Sweden": "SE", "Switzerland": "CH", "Taiwan": "TW",
    "Turkey": "TR", "Türkiye": "TR", "Ukraine": "UA", "United Kingdom": "GB", "United States": "US",
}
_PHASES = {"EARLY_PHASE1": 1, "PHASE1": 1, "PHASE2": 2, "PHASE3": 3, "PHASE4": 4}
_SECTION = re.compile(r"^\s*(?:key\s+|main\s+)?(inclusion|exclusion)\s+criteria\b[^a-z0-9]*$", re.IGNORECASE)
_BULLET = re.compile(r"^(\s*)(?:[*\-+•·]|\d{1,3}[.)])\s+(.*)$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=|~^])")


class StudyError(CdsError, ValueError):
    """A ClinicalTrials.gov record that cannot make a catalogue entry (no nctId, no phase, no date).

    Examples
    --------
    >>> try:
    ...     trial_from_study({"protocolSection": {}})
    ... except StudyError as exc:
    ...     print(exc)
    the record has no protocolSection.identificationModule.nctId
    """


def studies_of(data: Any) -> list[Mapping[str, Any]]:
    """The study records of an API v2 export: one study object, or ``{"studies": [...]}``.

    Parameters
    ----------
    data
        The parsed JSON.

    Returns
    -------
    list of dict
        The study objects, in file order.

    Raises
    ------
    StudyError
        Neither form.

    Examples
    --------
    >>> len(studies_of({"studies": [{"protocolSection": {}}, {"protocolSection": {}}]}))
    2
    >>> studies_of([])
    Traceback (most recent call last):
    ...
    cds.trials.ctgov.StudyError: not a ClinicalTrials.gov API v2 study (an object with protocolSection) or export ...
    """
    if isinstance(data, Mapping) and isinstance(data.get("studies"), list):
        return [s for s in data["studies"] if isinstance(s, Mapping)]
    if isinstance(data, Mapping) and isinstance(data.get("protocolSection"), Mapping):
        return [data]
    raise StudyError("not a ClinicalTrials.gov API v2 study (an object with protocolSection) or export "
                     '({"studies": [...]})')


def split_criteria(text: str) -> list[tuple[str, str]]:
    """The registered eligibility text as (kind, criterion) pairs, one per bullet.

    Parameters
    ----------
    text
        ``eligibilityModule.eligibilityCriteria`` (CommonMark, sections headed "Inclusion Criteria:" and
        "Exclusion Criteria:").

    Returns
    -------
    list of (str, str)
        ``inclusion`` or ``exclusion`` and the criterion's text; an indented sub-bullet is joined to
        its bullet (``"parent: child; child"``), a line that continues a bullet is joined to it. Text
        before any section heading counts as inclusion.

    Examples
    --------
    >>> text = ("Inclusion Criteria:\\n\\n* Adequate organ function:\\n  * ANC \\\\>= 1.5\\n  * Platelets \\\\>= 100\\n"
    ...         "* ECOG 0-1\\n\\nExclusion Criteria:\\n\\n1. Prior PRRT\\n   within 6 months")
    >>> for kind, criterion in split_criteria(text):
    ...     print(kind, "|", criterion)
    inclusion | Adequate organ function: ANC >= 1.5; Platelets >= 100
    inclusion | ECOG 0-1
    exclusion | Prior PRRT within 6 months
    """
    out: list[tuple[str, list[str]]] = []
    kind = "inclusion"
    top_indent: int | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = _ESCAPE.sub(r"\1", raw.rstrip())
        if not line.strip():
            continue
        section = _SECTION.match(line)
        if section:
            kind = section.group(1).lower()
            top_indent = None
            continue
        bullet = _BULLET.match(line)
        if bullet:
            indent = len(bullet.group(1))
            if top_indent is None or indent <= top_indent or not out or out[-1][0] != kind:
                top_indent = indent if top_indent is None or indent < top_indent else top_indent
                out.append((kind, [bullet.group(2).strip()]))
            else:  # a sub-bullet: part of the bullet above
                out[-1][1].append(bullet.group(2).strip())
            continue
        if out and out[-1][0] == kind and top_indent is not None:
            out[-1][1][-1] += " " + line.strip()  # a continuation line
        else:
            out.append((kind, [line.strip()]))
    pairs = []
    for k, parts in out:
        head, subs = parts[0], parts[1:]
        if subs:
            head = (head if head.endswith(":") else head + ":") + " " + "; ".join(subs)
        pairs.append((k, head))
    return pairs


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _phase(phases: Sequence[str]) -> str:
    numbers = sorted({_PHASES[p] for p in phases if p in _PHASES})
    if not numbers:
        raise StudyError(f"designModule.phases {list(phases)!r} states no phase 1 to 4")
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}/{numbers[-1]}"


def trial_from_study(study: Mapping[str, Any], checked_on: dt.date | None = None) -> TrialSpec:
    """One API v2 study record as a catalogue entry: metadata filled, every criterion as text.

    Parameters
    ----------
    study
        The study object (with ``protocolSection``).
    checked_on
        The day the record was downloaded, when known; None takes the record's last posting date.

    Returns
    -------
    TrialSpec
        The entry, valid against the catalogue schema; no criterion has ``when``.

    Raises
    ------
    StudyError
        No nctId, no phase 1 to 4, or no date for ``status_checked_on``.

    Examples
    --------
    >>> study = {"protocolSection": {"identificationModule": {"nctId": "NCT00000002", "officialTitle": "T"},
    ...     "statusModule": {"overallStatus": "ENROLLING_BY_INVITATION"}, "designModule": {"phases": ["PHASE1"]},
    ...     "contactsLocationsModule": {"locations": [{"facility": "Hôpital A", "city": "Paris", "country": "France"},
    ...                                               {"facility": "B", "city": "X", "country": "Atlantis"}]}}}
    >>> entry = trial_from_study(study, dt.date(2026, 12, 7))
    >>> entry.id, entry.status, entry.countries, entry.french_centres
    ('nct00000002', 'active_not_recruiting', ['FR'], ['Hôpital A, Paris'])
    >>> print(entry.note)
    Imported by `cds trials import` from the ClinicalTrials.gov API v2 record NCT00000002: criteria as text, ...
    """
    protocol = study.get("protocolSection") or {}
    ident = protocol.get("identificationModule") or {}
    status_mod = protocol.get("statusModule") or {}
    design = protocol.get("designModule") or {}
    arms_mod = protocol.get("armsInterventionsModule") or {}
    eligibility = protocol.get("eligibilityModule") or {}
    locations = (protocol.get("contactsLocationsModule") or {}).get("locations") or []
    nct = ident.get("nctId")
    if not nct:
        raise StudyError("the record has no protocolSection.identificationModule.nctId")
    notes = [f"Imported by `cds trials import` from the ClinicalTrials.gov API v2 record {nct}: criteria as text, "
             "options and `when` to be written by the author."]

    raw_status = str(status_mod.get("overallStatus") or "UNKNOWN")
    status = STATUS_MAP.get(raw_status, "unknown")
    if raw_status not in STATUS_MAP or raw_status == "ENROLLING_BY_INVITATION":
        notes.append(f"Registered status {raw_status} read as {status}.")
    if checked_on is None:
        posted = (status_mod.get("lastUpdatePostDateStruct") or {}).get("date")
        try:
            checked_on = dt.date.fromisoformat(str(posted))
        except ValueError:
            raise StudyError(f"{nct}: no lastUpdatePostDateStruct.date (a full date) to date the status; "
                             "give the day the record was downloaded") from None
        notes.append(f"status_checked_on is the record's last update posted ({checked_on.isoformat()}); "
                     "set it to the day the status is next read from the registry.")
    else:
        notes.append(f"status_checked_on is the day the record was downloaded ({checked_on.isoformat()}).")

    eu_ct = next((str(s.get("id")) for s in ident.get("secondaryIdInfos") or []
                  if s.get("type") in ("EUDRACT_NUMBER", "CTIS")
                  and re.fullmatch(r"\d{4}-\d{6}-\d{2}(-\d{2})?", str(s.get("id", "")).strip())), None)
    countries: set[str] = set()
    unmapped: set[str] = set()
    french: list[str] = []
    for loc in locations:
        country = str(loc.get("country") or "")
        if country in COUNTRY_CODES:
            countries.add(COUNTRY_CODES[country])
        elif country:
            unmapped.add(country)
        if country == "France":
            centre = ", ".join(str(x) for x in (loc.get("facility"), loc.get("city")) if x)
            if centre and centre not in french:
                french.append(centre)
    if unmapped:
        notes.append(f"Countries without an ISO code here: {', '.join(sorted(unmapped))}.")

    arms = []
    for arm in arms_mod.get("armGroups") or []:
        names = [str(n) for n in arm.get("interventionNames") or []]
        label = str(arm.get("label") or "").strip()
        arms.append({"label": f"{label} ({', '.join(names)})" if names else label, "options": []})

    criteria = []
    counters = {"inclusion": 0, "exclusion": 0}
    for kind, text in split_criteria(str(eligibility.get("eligibilityCriteria") or "")):
        counters[kind] += 1
        criteria.append({"id": f"{kind[:3]}_{counters[kind]:02d}", "kind": kind, "text": text})
    acronym = str(ident.get("acronym") or "").strip()
    return TrialSpec.model_validate({
        "id": _slug(acronym) or nct.lower(),
        "acronym": acronym or nct,
        "registry": {"nct": nct, "eu_ct": eu_ct},
        "title": str(ident.get("officialTitle") or ident.get("briefTitle") or nct),
        "phase": _phase(design.get("phases") or []),
        "status": status,
        "status_checked_on": checked_on,
        "countries": sorted(countries),
        "french_centres": french,
        "arms": arms,
        "options": [],
        "criteria": criteria,
        "sources": [{"label": f"ClinicalTrials.gov {nct}", "url": f"https://clinicaltrials.gov/study/{nct}"}],
        "note": " ".join(notes),
    })


def trial_yaml(spec: TrialSpec) -> str:
    """A catalogue entry as ``trial.yaml`` text: the catalogue's field order, a schema line, stable output.

    Parameters
    ----------
    spec
        The entry.

    Returns
    -------
    str
        YAML (UTF-8 text, one line break at the end), the same for the same entry.

    Examples
    --------
    >>> spec = TrialSpec.model_validate({"id": "x", "acronym": "X", "registry": {"nct": "NCT00000001"},
    ...     "title": "T", "phase": "2", "status": "recruiting", "status_checked_on": "2026-01-02", "criteria": [],
    ...     "sources": [{"label": "CT.gov", "url": "https://clinicaltrials.gov/study/NCT00000001"}]})
    >>> print(trial_yaml(spec).splitlines()[1])
    id: x
    """
    data = spec.model_dump(mode="json", exclude_none=True)
    data["registry"] = {"nct": spec.registry.nct, "eu_ct": spec.registry.eu_ct}
    data["status_checked_on"] = spec.status_checked_on  # a YAML date, not a string
    header = "# yaml-language-server: $schema=../../../schemas/trial.schema.json\n"
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return header + body
