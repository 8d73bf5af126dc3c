"""Turn a validated Patient into the flat-ish context the rules read.

The context is what every condition is written against (knowledge/README.md,
"Facts a condition can test"). Two reshapings make conditions simple equality
tests, which durable_rules indexes cheaply:

- lists of enumerations become maps of ``true`` (``comorbidities.heart_failure``);
- prior treatments become ``prior.<option>`` = stop reason of the latest course,
  ``prior_response.<option>`` and ``prior_line.<option>``.

Unknown values are left out, never filled in: absence *is* the missing-data
signal that the knowledge tests with ``$nex``.
"""

from __future__ import annotations

from typing import Any

from cds.model.patient import Patient

# Input fields that are bookkeeping, not clinical facts.
_NOT_FACTS = ("id", "as_of", "prior_treatments", "comorbidities")


def build_context(patient: Patient) -> dict[str, Any]:
    """The facts the rules read about one patient (JSON data, unknown values left out).

    Parameters
    ----------
    patient
        The validated patient.

    Returns
    -------
    dict
        The patient's sections as JSON data without ``id``, ``as_of`` and null values;
        metastatic sites and comorbidities as maps of ``true``; prior treatments as
        ``prior``, ``prior_response`` and ``prior_line`` keyed by option (latest course).

    Examples
    --------
    >>> patient = Patient.model_validate({
    ...     "tumour": {"primary_site": "pancreas", "ki67_percent": 12},
    ...     "disease": {"stage": "metastatic", "metastatic_sites": ["liver"]},
    ...     "comorbidities": ["cirrhosis"],
    ...     "prior_treatments": ["ssa", {"option": "everolimus", "stop_reason": "toxicity", "line": 2}]})
    >>> ctx = build_context(patient)
    >>> ctx["disease"]["metastatic_sites"], ctx["comorbidities"]
    ({'liver': True}, {'cirrhosis': True})
    >>> ctx["prior"], ctx["prior_line"]
    ({'ssa': 'progression', 'everolimus': 'toxicity'}, {'everolimus': 2})
    >>> "size_mm" in ctx["tumour"]  # unknown: absent, never filled in
    False
    """
    data = patient.model_dump(mode="json", exclude_none=True)
    ctx: dict[str, Any] = {k: v for k, v in data.items() if k not in _NOT_FACTS}

    disease = dict(ctx.get("disease", {}))
    sites = disease.pop("metastatic_sites", [])
    if sites:
        disease["metastatic_sites"] = {site: True for site in sites}
    ctx["disease"] = disease

    if patient.comorbidities:
        ctx["comorbidities"] = {c.value: True for c in patient.comorbidities}

    prior: dict[str, str] = {}
    response: dict[str, str] = {}
    line: dict[str, int] = {}
    # Latest course wins: by line number when given, else by list order.
    courses = sorted(
        enumerate(patient.prior_treatments),
        key=lambda item: (item[1].line if item[1].line is not None else 0, item[0]),
    )
    for _, course in courses:
        prior[course.option] = course.stop_reason.value
        if course.best_response is not None:
            response[course.option] = course.best_response.value
        else:
            response.pop(course.option, None)
        if course.line is not None:
            line[course.option] = course.line
    if prior:
        ctx["prior"] = prior
    if response:
        ctx["prior_response"] = response
    if line:
        ctx["prior_line"] = line
    return ctx
