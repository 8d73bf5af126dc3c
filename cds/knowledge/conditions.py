"""The condition language: durable_rules' own JSON operators, read three ways.

A rule's ``when`` is a list of condition mappings written with durable_rules'
operators (``{path: value}``, ``$lt`` ``$lte`` ``$gt`` ``$gte`` ``$neq``,
``$ex`` ``$nex``, ``$and`` ``$or``). This module is the single reader of that
language, so the three uses cannot drift apart:

- :func:`check` validates a condition against the fact vocabulary at load
  time (unknown paths, type mismatches, unknown enum values) with suggestions;
- :func:`evaluate` and :func:`failures` run it in Python over a context dict,
  with the same semantics as durable_rules (a comparison with an absent field
  is false), for the *why-not* explanations;
- :func:`to_durable` emits the durable_rules expression the engine runs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cds.errors import CdsError
from cds.suggest import closest, did_you_mean

#: A value a condition compares with.
Scalar = str | int | float | bool
#: One condition: a mapping with exactly one key (a path or an operator), as written in YAML.
Condition = Mapping[str, Any]

#: The comparison operators and the symbol each is shown with.
COMPARATORS: dict[str, str] = {
    "$lt": "<",
    "$lte": "<=",
    "$gt": ">",
    "$gte": ">=",
    "$neq": "!=",
}
#: The operators that test whether a path is known (``$ex``) or unknown (``$nex``).
EXISTENCE = ("$ex", "$nex")
#: The operators that combine conditions.
LOGICAL = ("$and", "$or")
#: Every operator the language accepts.
OPERATORS = (*COMPARATORS, *EXISTENCE, *LOGICAL)

#: The type of a path: what a condition may compare it with.
FieldType = Literal["number", "integer", "string", "boolean"]


@dataclass(frozen=True)
class FieldSpec:
    """What a condition may say about one path of the context.

    Attributes
    ----------
    path
        Dotted path in the context, e.g. ``tumour.ki67_percent``.
    type
        What the path holds: number, integer, string or boolean.
    values
        The allowed values of an enumeration; None for any value of the type.
    description
        What the path means (from the Patient model or the knowledge).

    Examples
    --------
    >>> FieldSpec("disease.stage", "string", frozenset({"localized", "metastatic"})).type
    'string'
    """

    path: str
    type: FieldType
    values: frozenset[Scalar] | None = None  # allowed values for enumerations
    description: str = ""


@dataclass
class Vocabulary:
    """Every path a condition may read, derived from the Patient model and the knowledge.

    Attributes
    ----------
    fields
        Path -> what a condition may say about it.

    Examples
    --------
    >>> vocab = Vocabulary()
    >>> vocab.add(FieldSpec("tumour.ki67_percent", "number"))
    >>> check({"$gte": {"tumour.ki67": 10}}, vocab)
    ["unknown field 'tumour.ki67'; did you mean 'tumour.ki67_percent'?"]
    """

    fields: dict[str, FieldSpec] = field(default_factory=dict)

    def add(self, spec: FieldSpec) -> None:
        """Make a path readable (replacing what was said of it before).

        Parameters
        ----------
        spec
            The path and what a condition may say about it.

        Examples
        --------
        >>> vocab = Vocabulary()
        >>> vocab.add(FieldSpec("ecog", "integer"))
        >>> list(vocab.fields)
        ['ecog']
        """
        self.fields[spec.path] = spec

    def suggest(self, path: str) -> str | None:
        """The known path closest to a mistyped one, for a "did you mean".

        Parameters
        ----------
        path
            The path a condition names that is not in the vocabulary.

        Returns
        -------
        str or None
            The closest path, else the path whose last segment is closest to ``path``'s
            (``ki67`` -> ``tumour.ki67_percent``); None when nothing is close.

        Examples
        --------
        >>> vocab = Vocabulary()
        >>> vocab.add(FieldSpec("tumour.ki67_percent", "number"))
        >>> vocab.suggest("tumour.ki67"), vocab.suggest("ki67_pct"), vocab.suggest("age")
        ('tumour.ki67_percent', 'tumour.ki67_percent', None)
        """
        close = closest(path, self.fields)
        if close:
            return close[0]
        # Try matching the last segment only: `ki67` -> `tumour.ki67_percent`.
        tail = path.rsplit(".", 1)[-1]
        by_tail = {p.rsplit(".", 1)[-1]: p for p in self.fields}
        close = closest(tail, by_tail)
        return by_tail[close[0]] if close else None


# ------------------------------------------------------------------ structure walk


@dataclass(frozen=True)
class Leaf:
    """One test on one path: ``path <op> value``; op is ``==``, a comparator, ``exists`` or ``absent``.

    Examples
    --------
    >>> list(leaves({"$nex": {"imaging.sstr": 1}}))
    [Leaf(path='imaging.sstr', op='absent', value=None)]
    """

    path: str
    op: str
    value: Any

    def describe(self) -> str:
        """The test in words, e.g. ``tumour.ki67_percent >= 10`` or ``imaging.sstr is unknown``.

        Returns
        -------
        str
            The path, the operator and the value (``true``/``false`` for booleans).

        Examples
        --------
        >>> Leaf("tumour.ki67_percent", ">=", 10).describe(), Leaf("imaging.sstr", "absent", None).describe()
        ('tumour.ki67_percent >= 10', 'imaging.sstr is unknown')
        >>> Leaf("tumour.minen", "==", True).describe()
        'tumour.minen == true'
        """
        if self.op == "exists":
            return f"{self.path} is known"
        if self.op == "absent":
            return f"{self.path} is unknown"
        return f"{self.path} {self.op} {_show(self.value)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConditionSyntaxError(CdsError, ValueError):
    """A condition that is not valid durable_rules syntax as we accept it.

    Examples
    --------
    >>> try:
    ...     list(leaves({"$in": {"tumour.primary_site": ["pancreas"]}}))
    ... except ConditionSyntaxError as exc:
    ...     print(exc)
    unknown operator '$in'; allowed: $lt, $lte, ..., $and, $or (durable_rules has no $in: use $or)
    """


def leaves(cond: Condition) -> Iterator[Leaf]:
    """Yield every leaf test of a condition, depth first.

    Parameters
    ----------
    cond
        One condition.

    Yields
    ------
    Leaf
        Each test on one path, in the order written.

    Raises
    ------
    ConditionSyntaxError
        The condition is not valid syntax (raised as the walk reaches the fault).

    Examples
    --------
    >>> for leaf in leaves({"$or": [{"$gte": {"tumour.ki67_percent": 10}}, {"$nex": {"tumour.ki67_percent": 1}}]}):
    ...     print(leaf.describe())
    tumour.ki67_percent >= 10
    tumour.ki67_percent is unknown
    """
    yield from _leaves(cond, "")


def _leaves(cond: Any, where: str) -> Iterator[Leaf]:
    if not isinstance(cond, Mapping) or len(cond) != 1:
        raise ConditionSyntaxError(
            f"{where or 'condition'}: expected a mapping with exactly one key, got {cond!r}"
        )
    ((key, body),) = cond.items()
    if key in LOGICAL:
        if not isinstance(body, Sequence) or isinstance(body, str) or not body:
            raise ConditionSyntaxError(f"{key} expects a non-empty list of conditions, got {body!r}")
        for i, sub in enumerate(body):
            yield from _leaves(sub, f"{where}{key}[{i}]")
        return
    yield _leaf(key, body)


def _leaf(key: str, body: Any) -> Leaf:
    """The test ``{key: body}`` of a condition that is not ``$and``/``$or``."""
    if key in COMPARATORS or key in EXISTENCE:
        if not isinstance(body, Mapping) or len(body) != 1:
            raise ConditionSyntaxError(
                f"{key} expects a mapping {{path: value}} with one entry, got {body!r}"
            )
        ((path, value),) = body.items()
        if key in EXISTENCE:
            return Leaf(str(path), "exists" if key == "$ex" else "absent", None)
        return Leaf(str(path), COMPARATORS[key], value)
    if key.startswith("$"):
        raise ConditionSyntaxError(
            f"unknown operator {key!r}; allowed: {', '.join(OPERATORS)} (durable_rules has no $in: use $or)"
        )
    return Leaf(str(key), "==", body)


def paths(conds: Sequence[Condition]) -> set[str]:
    """Every path the conditions read.

    Parameters
    ----------
    conds
        Conditions (a rule's ``when``).

    Returns
    -------
    set of str
        The paths of all their leaves.

    Raises
    ------
    ConditionSyntaxError
        A condition is not valid syntax.

    Examples
    --------
    >>> sorted(paths([{"ecog": 1}, {"$or": [{"disease.stage": "metastatic"}, {"$lt": {"ecog": 2}}]}]))
    ['disease.stage', 'ecog']
    """
    return {leaf.path for c in conds for leaf in leaves(c)}


# ------------------------------------------------------------------------ checking


def check(cond: Condition, vocab: Vocabulary) -> list[str]:
    """Return every problem of one condition, each with a fix where one is obvious.

    Parameters
    ----------
    cond
        One condition, as written in the knowledge.
    vocab
        The paths a condition may read and what it may say about each.

    Returns
    -------
    list of str
        One message per problem (syntax, unknown path, value of the wrong type, value not
        allowed, comparison that durable_rules would make on text); empty when it is valid.

    Examples
    --------
    >>> from cds.knowledge.vocabulary import patient_vocabulary
    >>> vocab = patient_vocabulary()
    >>> check({"$gte": {"tumour.ki67_percent": 10}}, vocab)
    []
    >>> check({"tumour.primary_site": "pancrease"}, vocab)  # doctest: +ELLIPSIS
    ["tumour.primary_site: 'pancrease' is not an allowed value (appendix, ...); did you mean 'pancreas'?"]
    >>> check({"tumour.ki67_percent": "10"}, vocab)
    ["tumour.ki67_percent is a number; '10' is not (write it without quotes)"]
    """
    try:
        found = list(leaves(cond))
    except ConditionSyntaxError as exc:
        return [str(exc)]
    problems: list[str] = []
    for leaf in found:
        spec = vocab.fields.get(leaf.path)
        if spec is None:
            hint = vocab.suggest(leaf.path)
            problems.append(
                f"unknown field {leaf.path!r}" + (f"; did you mean {hint!r}?" if hint else "")
            )
            continue
        if leaf.op in ("exists", "absent"):
            continue
        problems.extend(_check_value(leaf, spec))
    return problems


def _check_value(leaf: Leaf, spec: FieldSpec) -> list[str]:
    value = leaf.value
    if isinstance(value, Mapping):
        return [f"{leaf.path}: value {value!r} is not a constant (unresolved setting?)"]
    if spec.type in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{leaf.path} is a number; {_show(value)!r} is not (write it without quotes)"]
        if isinstance(value, float) and ("e" in repr(value) or "E" in repr(value)):
            return [f"{leaf.path}: {value!r} prints in exponent form, which durable_rules rejects"]
        return []
    if spec.type == "boolean":
        if leaf.op not in ("==", "!="):
            return [f"{leaf.path} is a boolean; use equality, not {leaf.op}"]
        if not isinstance(value, bool):
            return [f"{leaf.path} is a boolean; use true or false, not {value!r}"]
        return []
    # strings and enumerations
    if leaf.op not in ("==", "!="):
        return [f"{leaf.path} is text; {leaf.op} compares text alphabetically, use equality"]
    if spec.values is not None and value not in spec.values:
        allowed = sorted(str(v) for v in spec.values)
        return [
            f"{leaf.path}: {value!r} is not an allowed value ({', '.join(allowed)})"
            + did_you_mean(str(value), allowed)
        ]
    return []


# ---------------------------------------------------------------------- evaluation

_MISSING = object()


def lookup(ctx: Mapping[str, Any], path: str) -> Any:
    """Read a dotted path; absent (or null) values return a sentinel.

    Parameters
    ----------
    ctx
        The context (:func:`cds.facts.build_context`, plus derived facts).
    path
        Dotted path, e.g. ``tumour.ki67_percent``.

    Returns
    -------
    Any
        The value, or a sentinel that :func:`is_missing` recognises when the path is absent
        or null (a condition on it is then false, as in durable_rules).

    Examples
    --------
    >>> ctx = {"tumour": {"ki67_percent": 5, "size_mm": None}}
    >>> lookup(ctx, "tumour.ki67_percent")
    5
    >>> is_missing(lookup(ctx, "tumour.size_mm")), is_missing(lookup(ctx, "disease.stage"))
    (True, True)
    """
    node: Any = ctx
    for part in _parts(path):
        if type(node) is dict:  # the contexts are plain dicts: skip the slower Mapping check
            node = node.get(part, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return _MISSING if node is None else node


@functools.lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...]:
    # Paths come from the knowledge (a few hundred): split once, not on every lookup.
    return tuple(path.split("."))


def is_missing(value: Any) -> bool:
    """True for the sentinel :func:`lookup` returns for an absent path.

    Parameters
    ----------
    value
        What :func:`lookup` returned.

    Returns
    -------
    bool
        Whether the path was absent (or null).

    Examples
    --------
    >>> is_missing(lookup({"ecog": 0}, "ecog")), is_missing(lookup({}, "ecog"))
    (False, True)
    """
    return value is _MISSING


#: Values that mean "not known" although the field is present.
UNKNOWN_VALUES = frozenset({"not_done", "unknown"})
#: Namespaces whose absence is not missing data (no prior course, no comorbidity, no such site)
#: or that are not input at all (derived and late facts): never asked for.
NOT_ASKED = ("prior.", "prior_response.", "prior_line.", "comorbidities.", "disease.metastatic_sites.",
             "derived.", "candidate.", "node.", "pathway.")


def is_unknown(value: Any) -> bool:
    """True for a value :func:`lookup` found absent, or a present value that means "not known".

    Parameters
    ----------
    value
        What :func:`lookup` returned.

    Returns
    -------
    bool
        Whether the datum is missing or one of :data:`UNKNOWN_VALUES` (``not_done``, ``unknown``).

    Examples
    --------
    >>> is_unknown(lookup({"imaging": {"sstr": "not_done"}}, "imaging.sstr")), is_unknown(lookup({}, "ecog"))
    (True, True)
    """
    return value is _MISSING or (isinstance(value, str) and value in UNKNOWN_VALUES)


def unknown_accepted(conds: Sequence[Condition]) -> set[str]:
    """Paths that conditions accept when unknown *as if* they had a value.

    That is ``$nex`` beside a test of the same path in an ``$or``: the condition holds without
    the datum, so whatever it leads to depends on it.

    Parameters
    ----------
    conds
        Conditions (a rule's or an edge's ``when``).

    Returns
    -------
    set of str
        The paths so accepted, at any depth of ``$and``/``$or``.

    Examples
    --------
    >>> sorted(unknown_accepted([{"$or": [{"tumour.primary_symptomatic": False},
    ...                                   {"$nex": {"tumour.primary_symptomatic": 1}}]}]))
    ['tumour.primary_symptomatic']
    >>> unknown_accepted([{"$nex": {"tumour.size_mm": 1}}])   # an explicit "unknown" branch
    set()
    """
    found: set[str] = set()

    def walk(c: Condition) -> None:
        ((key, body),) = c.items()
        if key == "$or":
            absent = {leaf.path for sub in body
                      if len(found_leaves := list(leaves(sub))) == 1
                      for leaf in found_leaves if leaf.op == "absent"}
            valued = {leaf.path for sub in body for leaf in leaves(sub)
                      if leaf.op not in ("absent", "exists")}
            found.update(absent & valued)
        if key in ("$or", "$and"):
            for sub in body:
                walk(sub)

    for c in conds:
        walk(c)
    return found


def _test(leaf: Leaf, actual: Any) -> bool:
    if leaf.op == "exists":
        return actual is not _MISSING
    if leaf.op == "absent":
        return actual is _MISSING
    if actual is _MISSING:
        return False
    expected = leaf.value
    if leaf.op in ("==", "!="):
        if isinstance(expected, bool) or isinstance(actual, bool):
            same = actual is expected
        else:
            same = bool(actual == expected)
        return same if leaf.op == "==" else not same
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return False
    if leaf.op == "<":
        return bool(actual < expected)
    if leaf.op == "<=":
        return bool(actual <= expected)
    if leaf.op == ">":
        return bool(actual > expected)
    return bool(actual >= expected)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def predicate(leaf: Leaf) -> Callable[[Any], bool]:
    """A leaf's test specialised once for its operator and value (the results of :func:`evaluate`).

    For code that tests the same leaf for many patients (trial matching): the operator is not
    dispatched again on every call.

    Parameters
    ----------
    leaf
        One test.

    Returns
    -------
    callable
        Takes what :func:`lookup` returned; True exactly when :func:`evaluate` of the leaf's
        condition would be.

    Examples
    --------
    >>> at_least_10 = predicate(Leaf("tumour.ki67_percent", ">=", 10))
    >>> at_least_10(12), at_least_10(True), at_least_10(lookup({}, "tumour.ki67_percent"))
    (True, False, False)
    >>> predicate(Leaf("tumour.minen", "!=", True))(False)
    True
    """
    op, expected = leaf.op, leaf.value
    if op == "exists":
        return lambda actual: actual is not _MISSING
    if op == "absent":
        return lambda actual: actual is _MISSING
    if op in ("==", "!="):
        want = op == "=="
        flag = isinstance(expected, bool)

        def equal(actual: Any) -> bool:
            if actual is _MISSING:
                return False
            same = actual is expected if flag or isinstance(actual, bool) else bool(actual == expected)
            return same is want

        return equal
    order = _ORDER[op]

    def compare(actual: Any) -> bool:
        if actual is _MISSING or isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return bool(order(actual, expected))

    return compare


def evaluate(cond: Condition, ctx: Mapping[str, Any]) -> bool:
    """Whether a condition holds for a context, with durable_rules' semantics.

    Parameters
    ----------
    cond
        One condition (valid syntax: :func:`check` it first).
    ctx
        The context the rules read.

    Returns
    -------
    bool
        The verdict; a comparison with an absent path is false, and a boolean equals only a
        boolean (``true`` is not ``1``).

    Examples
    --------
    >>> ctx = {"tumour": {"ki67_percent": 5, "minen": False}}
    >>> evaluate({"$lt": {"tumour.ki67_percent": 10}}, ctx), evaluate({"$lt": {"tumour.size_mm": 20}}, ctx)
    (True, False)
    >>> evaluate({"$or": [{"tumour.minen": True}, {"$nex": {"tumour.size_mm": 1}}]}, ctx)
    True
    """
    ((key, body),) = cond.items()
    if key == "$and":
        return all(evaluate(c, ctx) for c in body)
    if key == "$or":
        return any(evaluate(c, ctx) for c in body)
    leaf = _leaf(key, body)  # what leaves(cond) would yield, without the generators
    return _test(leaf, lookup(ctx, leaf.path))


def evaluate_all(conds: Sequence[Condition], ctx: Mapping[str, Any]) -> bool:
    """Whether every condition holds (a rule's ``when`` is a conjunction).

    Parameters
    ----------
    conds
        The conditions.
    ctx
        The context the rules read.

    Returns
    -------
    bool
        True when all hold (so also for no condition at all).

    Examples
    --------
    >>> ctx = {"tumour": {"primary_site": "pancreas", "ki67_percent": 5}}
    >>> evaluate_all([{"tumour.primary_site": "pancreas"}, {"$gte": {"tumour.ki67_percent": 3}}], ctx)
    True
    >>> evaluate_all([], ctx)
    True
    """
    return all(evaluate(c, ctx) for c in conds)


@dataclass(frozen=True)
class Failure:
    """A condition that did not hold, with what the patient had instead.

    Attributes
    ----------
    condition
        The whole condition in words (:func:`describe`).
    path
        One path it tests that failed.
    actual
        The patient's value there; None when unknown.
    missing
        True when the path is absent for this patient.

    Examples
    --------
    >>> failures([{"$gte": {"tumour.ki67_percent": 10}}], {"tumour": {}})
    [Failure(condition='tumour.ki67_percent >= 10', path='tumour.ki67_percent', actual=None, missing=True)]
    """

    condition: str
    path: str
    actual: Any  # None when the field is unknown
    missing: bool


def failures(conds: Sequence[Condition], ctx: Mapping[str, Any]) -> list[Failure]:
    """The conditions that failed, each with the patient's value (for why-not).

    Parameters
    ----------
    conds
        The conditions (a rule's or an edge's ``when``).
    ctx
        The context the rules read.

    Returns
    -------
    list of Failure
        For each condition that does not hold, one record per leaf that fails (or per leaf,
        when the condition fails as a whole although no single leaf does), in order.

    Examples
    --------
    >>> ctx = {"tumour": {"primary_site": "pancreas", "ki67_percent": 5}}
    >>> for f in failures([{"tumour.primary_site": "pancreas"}, {"$gte": {"tumour.ki67_percent": 10}}], ctx):
    ...     print(f.condition, "| has", f.actual)
    tumour.ki67_percent >= 10 | has 5
    """
    out: list[Failure] = []
    for cond in conds:
        if evaluate(cond, ctx):
            continue
        failed = [leaf for leaf in leaves(cond) if not _test(leaf, lookup(ctx, leaf.path))]
        for leaf in failed or list(leaves(cond)):
            actual = lookup(ctx, leaf.path)
            out.append(
                Failure(
                    condition=describe(cond),
                    path=leaf.path,
                    actual=None if actual is _MISSING else actual,
                    missing=actual is _MISSING,
                )
            )
    return out


def describe(cond: Condition) -> str:
    """Human-readable form of a condition, e.g. ``tumour.ki67_percent >= 10``.

    Parameters
    ----------
    cond
        One condition.

    Returns
    -------
    str
        The condition in words, with parentheses around an ``and``/``or`` of several parts.

    Examples
    --------
    >>> describe({"$or": [{"disease.stage": "metastatic"}, {"$nex": {"disease.stage": 1}}]})
    '(disease.stage == metastatic or disease.stage is unknown)'
    """
    ((key, body),) = cond.items()
    if key in LOGICAL:
        joiner = " and " if key == "$and" else " or "
        inner = [describe(c) for c in body]
        return "(" + joiner.join(inner) + ")" if len(inner) > 1 else inner[0]
    (leaf,) = list(leaves(cond))
    return leaf.describe()


# ----------------------------------------------------------------------- compiling


def is_equality(cond: Condition) -> bool:
    """Whether a condition is a plain ``{path: value}`` test (which durable_rules indexes cheaply).

    Parameters
    ----------
    cond
        One condition.

    Returns
    -------
    bool
        True when its key is a path, not an operator.

    Examples
    --------
    >>> is_equality({"ecog": 1}), is_equality({"$lt": {"ecog": 2}})
    (True, False)
    """
    ((key, _),) = cond.items()
    return not key.startswith("$")


def to_durable(cond: Condition, strip_prefix: str = "") -> dict[str, Any]:
    """Translate to durable_rules' expression; ``strip_prefix`` drops a namespace.

    Parameters
    ----------
    cond
        One condition (valid syntax).
    strip_prefix
        A namespace to drop from the paths (``derived.`` for the derived facts, which are
        separate facts in durable_rules).

    Returns
    -------
    dict
        The durable_rules expression: the same operators, ``$ex``/``$nex`` with the value 1.

    Examples
    --------
    >>> to_durable({"$and": [{"$gte": {"derived.rank": 2}}, {"$nex": {"ecog": True}}]}, strip_prefix="derived.")
    {'$and': [{'$gte': {'rank': 2}}, {'$nex': {'ecog': 1}}]}
    """
    ((key, body),) = cond.items()
    if key in LOGICAL:
        return {key: [to_durable(c, strip_prefix) for c in body]}
    if key in COMPARATORS or key in EXISTENCE:
        ((path, value),) = body.items()
        return {key: {_strip(path, strip_prefix): 1 if key in EXISTENCE else value}}
    return {_strip(key, strip_prefix): body}


def _strip(path: str, prefix: str) -> str:
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


def static_domain(conds: Sequence[Condition], path: str) -> frozenset[Scalar] | None:
    """The values ``path`` can take for the conditions to hold, if they pin it down.

    Only top-level equalities (or ``$or`` of equalities on that one path) count;
    ``None`` means "any value". The engine uses this to put a rule only in the
    rulesets of the populations it can apply to.

    Parameters
    ----------
    conds
        The conditions (a rule's ``when``).
    path
        The path, e.g. ``tumour.primary_site``.

    Returns
    -------
    frozenset or None
        The values allowed by every condition that pins the path down; None when none does.

    Examples
    --------
    >>> sites = [{"$or": [{"tumour.primary_site": "pancreas"}, {"tumour.primary_site": "duodenum"}]}, {"ecog": 1}]
    >>> sorted(static_domain(sites, "tumour.primary_site"))
    ['duodenum', 'pancreas']
    >>> static_domain(sites, "disease.stage") is None
    True
    """
    domain: frozenset[Scalar] | None = None
    for cond in conds:
        values = _equality_values(cond, path)
        if values is None:
            continue
        domain = values if domain is None else domain & values
    return domain


def _equality_values(cond: Condition, path: str) -> frozenset[Scalar] | None:
    ((key, body),) = cond.items()
    if key == path:
        return frozenset([body])
    if key == "$or":
        collected: set[Scalar] = set()
        for sub in body:
            vals = _equality_values(sub, path)
            if vals is None:
                return None
            collected |= vals
        return frozenset(collected)
    if key == "$and":
        doms = [d for d in (_equality_values(sub, path) for sub in body) if d is not None]
        if not doms:
            return None
        out = doms[0]
        for d in doms[1:]:
            out &= d
        return out
    return None


def specialise(cond: Condition, known: Mapping[str, Scalar | None]) -> Condition | bool:
    """Partially evaluate a condition for facts known in advance.

    Leaves on a ``known`` path are decided now (``None`` means the fact is absent);
    what remains is what durable_rules still has to test, or a bool when nothing
    remains. A ruleset compiled for patients who share those facts (a population)
    then holds fewer rules, and its rules fewer tests.

    Parameters
    ----------
    cond
        One condition (valid syntax).
    known
        Path -> its value for every patient of the population (None: absent).

    Returns
    -------
    Condition or bool
        What is left to test, or the verdict when no test is left.

    Examples
    --------
    >>> pancreas = {"tumour.primary_site": "pancreas"}
    >>> specialise({"$and": [{"tumour.primary_site": "pancreas"}, {"$gte": {"tumour.ki67_percent": 10}}]}, pancreas)
    {'$gte': {'tumour.ki67_percent': 10}}
    >>> specialise({"tumour.primary_site": "stomach"}, pancreas)
    False
    """
    ((key, body),) = cond.items()
    if key in LOGICAL:
        parts: list[Condition] = []
        for sub in body:
            value = specialise(sub, known)
            if value is True:
                if key == "$or":
                    return True
                continue
            if value is False:
                if key == "$and":
                    return False
                continue
            parts.append(value)
        if not parts:
            return key == "$and"
        return parts[0] if len(parts) == 1 else {key: parts}
    if key in COMPARATORS or key in EXISTENCE:
        ((path, value),) = body.items()
    else:
        path, value = key, body
    if path not in known:
        return cond
    (leaf,) = list(leaves(cond))
    actual = known[path]
    return _test(leaf, _MISSING if actual is None else actual)


def specialise_all(
    conds: Sequence[Condition], known: Mapping[str, Scalar | None]
) -> list[Condition] | None:
    """:func:`specialise` over a conjunction (a rule's ``when``); None if it can never hold.

    Parameters
    ----------
    conds
        The conditions (valid syntax).
    known
        Path -> its value for every patient of the population (None: absent).

    Returns
    -------
    list or None
        The conditions left to test (empty: the rule always holds), or None when one is false.

    Examples
    --------
    >>> pancreas = {"tumour.primary_site": "pancreas"}
    >>> specialise_all([{"tumour.primary_site": "pancreas"}, {"$lt": {"ecog": 2}}], pancreas)
    [{'$lt': {'ecog': 2}}]
    >>> specialise_all([{"tumour.primary_site": "colon"}], pancreas) is None
    True
    """
    out: list[Condition] = []
    for c in conds:
        value = specialise(c, known)
        if value is False:
            return None
        if value is not True:
            out.append(value)
    return out
