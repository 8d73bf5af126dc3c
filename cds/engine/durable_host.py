"""The only module that imports durable_rules.

durable_rules 2.0.28 is frozen upstream and has sharp edges, measured in
``durable-rules.md``. Each is handled here, once:

- the default ``Host`` starts timer threads that steal actions from the caller
  (wrong traces, error 307): :class:`_QuietHost` overrides ``_run``;
- a session in which no action ran crashes ``delete_state`` (SIGSEGV): after
  every run we make sure one action ran, by posting a closing fact that a
  dedicated rule always matches;
- sessions leak and a ruleset holds at most 1,024 of them: every run uses a
  fresh uuid sid and deletes it in ``finally``;
- a fact that matches no rule raises ``MessageNotHandledException``, a fact
  asserted twice raises ``MessageObservedException``: both are expected here
  and absorbed;
- exceptions inside actions are swallowed into the session state: they are
  read back and re-raised as :class:`~cds.errors.EngineError`;
- ``set_rulesets`` mutates its argument and rejects unknown keys: definitions
  are deep-copied and carry only durable's own keys;
- the C extension holds the GIL and the same sid must never be used from two
  threads: runs are serialised by a lock (threads gain nothing anyway).

The wrapper knows nothing about medicine: a rule is a durable condition plus
the static facts to assert when it fires.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from durable import engine as _durable

from cds.errors import EngineError

_CLOSE_TYPE = "__close__"
_CLOSE_RULE = "__close__"


@dataclass(frozen=True)
class CompiledRule:
    """A durable rule definition and the facts its action asserts.

    With ``carry`` set, every asserted fact also carries the run's payload (see
    :meth:`RuleSet.run`): that is how a rule passes data on to the next rule
    without a join.
    """

    name: str
    definition: Mapping[str, Any]  # {"all": [...], "pri": n}
    asserts: tuple[Mapping[str, Any], ...] = ()
    carry: bool = False


class _QuietHost(_durable.Host):  # type: ignore[misc]
    """A Host without background timer threads (durable-rules.md section 4)."""

    def _run(self) -> None:
        return None


class _Run:
    """Per-run mutable state, owned by one thread under the host lock."""

    __slots__ = ("errors", "fired", "payload")

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.fired: list[str] = []
        self.errors: list[str] = []
        self.payload = payload


class RuleSet:
    """One durable ruleset, registered once, evaluated many times."""

    def __init__(self, host: DurableHost, name: str, rules: Sequence[CompiledRule]) -> None:
        self._host = host
        self.name = name
        self.size = len(rules)
        definitions: dict[str, Any] = {}
        for rule in rules:
            body = copy.deepcopy(dict(rule.definition))
            body["run"] = host._action(rule.name, rule.asserts, rule.carry)
            definitions[rule.name] = body
        definitions[_CLOSE_RULE] = {
            "pri": 65535,
            "all": [{"m": {"t": _CLOSE_TYPE}}],
            "run": host._close_action(),
        }
        with host._lock:
            try:
                host._host.set_rulesets({name: definitions})
            except Exception as exc:  # durable raises bare Exceptions with codes
                raise EngineError(f"durable_rules rejected ruleset {name!r}: {exc}") from exc

    def run(
        self, facts: Sequence[Mapping[str, Any]], payload: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Assert the facts in a fresh session; return the names of the rules that fired, in order.

        ``payload`` is merged into the facts asserted by rules compiled with ``carry``.
        """
        if not self.size:
            return []  # nothing can fire: spare the session
        return self._host._run(self.name, facts, payload or {})


class DurableHost:
    """Owns a private durable Host, its rulesets and the lock that serialises runs."""

    def __init__(self) -> None:
        self._host = _QuietHost()
        self._lock = threading.RLock()
        self._local = threading.local()
        self._closed = False

    # ----------------------------------------------------------- actions

    def _action(self, name: str, asserts: Sequence[Mapping[str, Any]], carry: bool) -> Any:
        local = self._local
        facts = tuple(dict(f) for f in asserts)

        # durable inspects func.__code__, so this must be a plain function of one argument.
        # durable would swallow an exception raised here into the session state; we
        # record it ourselves instead, which also spares a get_state call per run.
        def action(c: Any) -> None:
            run = local.run
            run.fired.append(name)
            try:
                for fact in facts:
                    try:
                        c.assert_fact({**run.payload, **fact} if carry else dict(fact))
                    except _durable.MessageObservedException:
                        pass  # already derived by another rule: derivations are idempotent
                    except _durable.MessageNotHandledException:
                        pass  # a derived fact that no rule reads
            except Exception as exc:
                run.errors.append(f"rule {name}: {_describe(exc)}")

        return action

    def _close_action(self) -> Any:
        def close(c: Any) -> None:
            return None

        return close

    # --------------------------------------------------------------- run

    def ruleset(self, name: str, rules: Sequence[CompiledRule]) -> RuleSet:
        return RuleSet(self, name, rules)

    def _run(
        self, ruleset: str, facts: Sequence[Mapping[str, Any]], payload: Mapping[str, Any]
    ) -> list[str]:
        if self._closed:
            raise EngineError("the engine was closed")
        sid = uuid.uuid4().hex
        run = _Run(payload)
        with self._lock:
            self._local.run = run
            failure: Exception | None = None
            try:
                for fact in facts:
                    payload = dict(fact)
                    payload["sid"] = sid
                    try:
                        self._host.assert_fact(ruleset, payload)
                    except _durable.MessageNotHandledException:
                        pass  # the fact matched no rule: nothing to do
                    except _durable.MessageObservedException:
                        pass  # the same fact twice: facts are a set
                if run.errors:
                    failure = EngineError(
                        f"a rule action failed in ruleset {ruleset!r}: " + "; ".join(run.errors)
                    )
            except Exception as exc:
                failure = EngineError(
                    f"durable_rules failed in ruleset {ruleset!r}: {_describe(exc)}"
                )
            finally:
                self._finish(ruleset, sid, must_close=failure is not None or not run.fired)
                self._local.run = None
        if failure is not None:
            raise failure
        return run.fired

    def _finish(self, ruleset: str, sid: str, must_close: bool) -> None:
        """Make sure at least one action ran in the session, then delete it.

        Stock durable_rules 2.0.28 frees two uninitialised pointers in
        ``delete_state`` when no action ever ran (SIGSEGV): a session where
        nothing fired, or where an engine error struck, gets a closing fact
        that the ``__close__`` rule always matches.
        """
        if must_close:
            # best effort; delete_state is what matters
            with contextlib.suppress(Exception):
                self._host.assert_fact(ruleset, {"sid": sid, "t": _CLOSE_TYPE})
        # a session we cannot delete is not the caller's problem
        with contextlib.suppress(Exception):
            self._host.delete_state(ruleset, sid)

    def close(self) -> None:
        """Free the C rulesets (the Python API never does)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            rulesets = getattr(self._host, "_ruleset_directory", {})
            for rs in list(rulesets.values()):
                handle = getattr(rs, "_handle", None)
                if handle is not None:
                    with contextlib.suppress(Exception):
                        _durable.durable_rules_engine.delete_ruleset(handle)


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
