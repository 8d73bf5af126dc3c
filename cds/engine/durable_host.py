"""The only module that imports durable_rules.

durable_rules 2.0.28 is frozen upstream and has sharp edges, measured in
``durable-rules.md``. This module drives its C engine (``durable_rules_engine``,
the extension that ``durable.engine`` wraps) through the same calls the stock
Python layer makes, without that layer: the stock ``Host`` builds a closure,
decodes the matched facts and re-encodes the session state for every fired
action (about 20 µs each), and we need none of it, because our actions only
record the rule's name and assert static facts. Each sharp edge is handled
here, once:

- the default ``Host`` starts timer threads that steal actions from the caller
  (wrong traces, error 307): no ``Host`` is created at all, and each run drains
  its own session's agenda with ``start_action_for_state``;
- a session in which no action ran crashes ``delete_state`` (SIGSEGV): after
  every run we make sure one action ran, by posting a closing fact that a
  dedicated rule always matches;
- sessions leak and a ruleset holds at most 1,024 of them: every run uses a
  fresh session id and deletes it in ``finally``;
- a fact that matches no rule (code 1) or that was already asserted (code 2)
  is expected here and absorbed;
- an error while an action asserts its facts would be swallowed into the
  session state by the stock layer: here it is collected, the agenda is still
  drained (as durable does), and the run raises :class:`~cds.errors.EngineError`;
- batches (``assert_facts``) segfault on unparseable facts: facts go one by one;
- the C extension holds the GIL and the same sid must never be used from two
  threads: runs are serialised by a lock (threads gain nothing anyway).

The wrapper knows nothing about medicine: a rule is a durable condition plus
the static facts to assert when it fires.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _engine  # the C extension behind durable.engine

from cds.errors import EngineError

_CLOSE_TYPE = "__close__"
_CLOSE_RULE = "__close__"
# durable_rules' result codes for assert_fact (rules.h): the fact matched no rule, or the
# session already holds an identical fact. Neither is an error here.
_NOT_HANDLED = 1
_OBSERVED = 2
# Rule names are read back from the start of each action's JSON ({"name":{...}}), so they
# must need no JSON escaping.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:#@/+-]+")
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class CompiledRule:
    """A durable rule definition and the facts its action asserts.

    With ``carry`` set, every asserted fact also carries that entry of the run's
    payload (see :meth:`RuleSet.run`): that is how a rule passes data on to the
    next rule without a join, and each entry holds only what its readers test.

    Examples
    --------
    A rule that fires on a ``ctx`` fact whose ``size`` is above 20, and asserts a ``seen`` fact:

    >>> rule = CompiledRule("big", {"all": [{"m": {"$and": [{"t": "ctx"}, {"$gt": {"size": 20}}]}}]},
    ...                     asserts=({"t": "seen"},))
    >>> rule.name, rule.carry
    ('big', None)
    """

    name: str
    definition: Mapping[str, Any]  # {"all": [...], "pri": n}
    asserts: tuple[Mapping[str, Any], ...] = ()
    carry: str | None = None


@dataclass(frozen=True)
class _Action:
    """What a fired rule does: assert these facts, each as JSON without its closing brace."""

    facts: tuple[str, ...]
    carry: str | None


class RuleSet:
    """One durable ruleset, created once, evaluated many times.

    Made by :meth:`DurableHost.ruleset`, which registers it with durable_rules; a rule named
    ``__close__`` is added to every ruleset (see the module's notes).

    Parameters
    ----------
    host
        The host that owns the ruleset (and serialises its runs).
    name
        The ruleset's name, unique in its host.
    rules
        The rules; their names must be plain (letters, digits and ``_.:#@/+-``).

    Raises
    ------
    cds.errors.EngineError
        A rule name is not plain, a rule asserts a fact JSON cannot hold, the name is taken,
        or durable_rules rejects the definitions.

    Examples
    --------
    >>> host = DurableHost()
    >>> rules = [CompiledRule("big", {"all": [{"m": {"$and": [{"t": "ctx"}, {"$gt": {"size": 20}}]}}]})]
    >>> ruleset = RuleSet(host, "demo", rules)
    >>> ruleset.name, ruleset.size
    ('demo', 1)
    >>> RuleSet(host, "bad", [CompiledRule("a b", {"all": [{"m": {"t": "ctx"}}]})])
    Traceback (most recent call last):
    ...
    cds.errors.EngineError: rule name 'a b' must match [A-Za-z0-9_.:#@/+-]+
    >>> host.close()
    """

    def __init__(self, host: DurableHost, name: str, rules: Sequence[CompiledRule]) -> None:
        self._host = host
        self.name = name
        self.size = len(rules)
        definitions: dict[str, Any] = {}
        actions: dict[str, _Action] = {}
        for rule in rules:
            if not _PLAIN_NAME.fullmatch(rule.name):
                raise EngineError(f"rule name {rule.name!r} must match {_PLAIN_NAME.pattern}")
            definitions[rule.name] = dict(rule.definition)
            try:
                encoded = tuple(_encode(dict(f))[:-1] for f in rule.asserts)
            except (TypeError, ValueError) as exc:
                raise EngineError(f"rule {rule.name!r} asserts a fact durable cannot hold: {exc}") from exc
            actions[rule.name] = _Action(encoded, rule.carry)
        definitions[_CLOSE_RULE] = {"pri": 65535, "all": [{"m": {"t": _CLOSE_TYPE}}]}
        actions[_CLOSE_RULE] = _Action((), None)
        self._actions = actions
        try:
            text = json.dumps(definitions, ensure_ascii=False)
            self._handle: int = host._register(name, text)
        except EngineError:
            raise
        except Exception as exc:  # durable raises bare Exceptions with codes
            raise EngineError(f"durable_rules rejected ruleset {name!r}: {_describe(exc)}") from exc

    def run(
        self, facts: Sequence[Mapping[str, Any]],
        payload: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Assert the facts in a fresh session; return the names of the rules that fired, in order.

        ``payload[entry]`` is merged into the facts asserted by rules compiled with
        ``carry=entry``; it is read (and may be computed) only when such a rule fires.

        Parameters
        ----------
        facts
            The facts to assert, one by one, in order.
        payload
            Data for the facts that rules assert, by carry entry (e.g. :class:`cds.engine.compiler.Carried`).

        Returns
        -------
        list[str]
            The names of the rules that fired, in firing order (a rule that fires on two
            facts is named twice); the session is deleted before it returns.

        Raises
        ------
        cds.errors.EngineError
            durable_rules failed, a rule's action failed, or the host was closed.

        Examples
        --------
        A rule that places the patient at step ``X``, and one that reads the data carried there:

        >>> host = DurableHost()
        >>> ruleset = host.ruleset("chain", [
        ...     CompiledRule("enter", {"all": [{"m": {"t": "ctx"}}]}, asserts=({"t": "at", "node": "X"},), carry="X"),
        ...     CompiledRule("big", {"all": [{"a": {"$and": [{"t": "at"}, {"node": "X"}, {"$gt": {"size": 20}}]}}]}),
        ... ])
        >>> ruleset.run([{"t": "ctx"}], payload={"X": {"size": 25}})
        ['enter', 'big']
        >>> ruleset.run([{"t": "ctx"}], payload={"X": {"size": 5}})
        ['enter']
        >>> host.close()
        """
        if not self.size:
            return []  # nothing can fire: spare the session
        return self._host._run(self, facts, payload or {})


# Session ids: unique within the process, which is all durable_rules needs (each run's
# session is deleted before the run returns); a counter is cheaper than a uuid.
_SIDS = itertools.count(1)


class _Session:
    """One run: a fresh sid, the rules fired so far and the errors met."""

    __slots__ = ("actions", "carried", "errors", "fired", "handle", "payload", "sid", "sid_tail")

    def __init__(self, ruleset: RuleSet, payload: Mapping[str, Mapping[str, Any]]) -> None:
        self.sid = f"s{next(_SIDS):x}"
        self.handle = ruleset._handle
        self.actions = ruleset._actions
        self.sid_tail = f',"sid":"{self.sid}"}}'
        self.payload = payload
        self.carried: dict[str, str] = {}
        self.fired: list[str] = []
        self.errors: list[str] = []

    def carried_json(self, entry: str) -> str:
        """The payload entry's members as JSON, to splice after a fact's own members."""
        text = self.carried.get(entry)
        if text is None:
            try:
                data = self.payload[entry]  # a Carried payload projects it now (Mapping.get adds a call)
            except KeyError:
                data = None
            body = _encode(data if type(data) is dict else dict(data or {}))[1:-1]
            text = self.carried[entry] = f",{body}" if body else ""
        return text

    def post(self, text: str) -> None:
        """Assert one fact given as JSON, then run every action it makes pending.

        Actions assert their facts from inside the loop: those facts' actions join the
        same agenda, which ``complete_and_start_action`` keeps handing out until empty.
        """
        handle = self.handle
        code, state = _engine.assert_fact(handle, text)
        if code in (_NOT_HANDLED, _OBSERVED):
            return
        started = _engine.start_action_for_state(handle, state)
        if not started:
            return
        message: str | None = started[1]
        actions, fired, tail = self.actions, self.fired, self.sid_tail
        while message:
            name = message[2:message.index('"', 2)]
            action = actions[name]
            if name != _CLOSE_RULE:
                fired.append(name)
            for fact in action.facts:
                try:
                    carried = self.carried_json(action.carry) if action.carry else ""
                    _engine.assert_fact(handle, fact + carried + tail)  # codes 1/2: nothing to do
                except Exception as exc:
                    self.errors.append(f"rule {name}: {_describe(exc)}")
            message = _engine.complete_and_start_action(handle, state)


class DurableHost:
    """Owns the durable rulesets of one engine and the lock that serialises runs.

    Examples
    --------
    >>> host = DurableHost()
    >>> ruleset = host.ruleset("demo", [
    ...     CompiledRule("big", {"all": [{"m": {"$and": [{"t": "ctx"}, {"$gt": {"size": 20}}]}}]}),
    ... ])
    >>> ruleset.run([{"t": "ctx", "size": 25}]), ruleset.run([{"t": "ctx", "size": 5}])
    (['big'], [])
    >>> host.close()
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._handles: dict[str, int] = {}
        self._closed = False

    def ruleset(self, name: str, rules: Sequence[CompiledRule]) -> RuleSet:
        """Register a ruleset with durable_rules (compiled once, run many times).

        Parameters
        ----------
        name
            The ruleset's name, unique in this host.
        rules
            Its rules.

        Returns
        -------
        RuleSet
            The registered ruleset.

        Raises
        ------
        cds.errors.EngineError
            The name is taken, or the rules are rejected (see :class:`RuleSet`).

        Examples
        --------
        >>> host = DurableHost()
        >>> host.ruleset("empty", []).run([{"t": "ctx"}])   # nothing can fire: no session at all
        []
        >>> host.ruleset("empty", [])
        Traceback (most recent call last):
        ...
        cds.errors.EngineError: ruleset 'empty' is already registered
        >>> host.close()
        """
        return RuleSet(self, name, rules)

    def _register(self, name: str, definition: str) -> int:
        with self._lock:
            if name in self._handles:
                raise EngineError(f"ruleset {name!r} is already registered")
            handle = int(_engine.create_ruleset(name, definition))
            self._handles[name] = handle
            return handle

    def _run(
        self, ruleset: RuleSet, facts: Sequence[Mapping[str, Any]],
        payload: Mapping[str, Mapping[str, Any]],
    ) -> list[str]:
        with self._lock:
            if self._closed:
                raise EngineError("the engine was closed")
            failure: Exception | None = None
            session = _Session(ruleset, payload)
            try:
                tail = session.sid_tail
                for fact in facts:
                    session.post(_encode(fact)[:-1] + tail)
                if session.errors:
                    failure = EngineError(
                        f"a rule action failed in ruleset {ruleset.name!r}: "
                        + "; ".join(session.errors)
                    )
            except Exception as exc:
                failure = EngineError(
                    f"durable_rules failed in ruleset {ruleset.name!r}: {_describe(exc)}"
                )
            finally:
                self._finish(session, must_close=failure is not None or not session.fired)
        if failure is not None:
            raise failure
        return session.fired

    def _finish(self, session: _Session, must_close: bool) -> None:
        """Make sure at least one action ran in the session, then delete it.

        Stock durable_rules 2.0.28 frees two uninitialised pointers in
        ``delete_state`` when no action ever ran (SIGSEGV): a session where
        nothing fired, or where an engine error struck, gets a closing fact
        that the ``__close__`` rule always matches.
        """
        if must_close:
            with contextlib.suppress(Exception):  # best effort; delete_state is what matters
                session.post(f'{{"t":"{_CLOSE_TYPE}"' + session.sid_tail)
        with contextlib.suppress(Exception):  # a session we cannot delete is not the caller's problem
            _engine.delete_state(session.handle, session.sid)

    def close(self) -> None:
        """Free the C rulesets (durable's Python API never does).

        Closing twice does nothing; a run afterwards raises :class:`~cds.errors.EngineError`.

        Examples
        --------
        >>> host = DurableHost()
        >>> ruleset = host.ruleset("demo", [CompiledRule("any", {"all": [{"m": {"t": "ctx"}}]})])
        >>> host.close(); host.close()
        >>> ruleset.run([{"t": "ctx"}])
        Traceback (most recent call last):
        ...
        cds.errors.EngineError: the engine was closed
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for handle in self._handles.values():
                with contextlib.suppress(Exception):
                    _engine.delete_ruleset(handle)
            self._handles.clear()


def _describe(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return message
    text = str(exc)
    try:
        json.loads(text)
    except (ValueError, TypeError):
        return text or type(exc).__name__
    return type(exc).__name__
