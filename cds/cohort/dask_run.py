"""Evaluate a cohort on a Dask distributed cluster (``cds batch --dask``).

The cluster is either a running scheduler (``--dask tcp://host:8786``) or a ``LocalCluster``
started for the run and stopped after it (``--dask local`` or ``local:N``: N worker processes of
one thread each, since the rule engine is C code that holds the GIL). The run is the local one
(:mod:`cds.cohort.runner`) with the pool replaced by the cluster:

- each Dask worker builds its engine once, when the run registers a :class:`EnginePlugin` (a
  worker that joins later, or replaces one that died, builds it when it starts), never per task;
- the tasks are chunks of patients; at most ``window`` chunks per worker thread are in flight
  (submitted and not yet written), so the memory of this process and of the cluster stays flat
  whatever the cohort size;
- results come back in input order (the oldest chunk first), so the output, the resume and the
  failure rows are those of a local run, byte for byte;
- evaluation is pure: when a worker dies mid-run the scheduler gives its chunks to another worker
  (at most ``distributed.scheduler.allowed-failures`` times per chunk, 3 by default; then the run
  stops with :class:`DaskError` and the rows written so far are kept for a resume).

This module knows nothing of the engine: the runner passes its worker initialiser and chunk
function, which the workers import from :mod:`cds.cohort.runner` (netcds must be installed on
the workers, with the same knowledge).

Examples
--------
>>> parse_target("tcp://10.0.0.5:8786")
DaskTarget(address='tcp://10.0.0.5:8786', local_workers=None)
>>> parse_target("local:2").label
'a local Dask cluster of 2 worker processes'
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import re
import signal
import socket
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from distributed import Client, Future

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT = 10.0

#: Chunks in flight per worker thread (as the local pool: 4 per worker process).
WINDOW_PER_THREAD = 4

_SCHEMES = ("tcp", "tls", "ws", "wss")
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})$")
_LOCAL = re.compile(r"^local(?::(?P<n>\d+))?$")

#: What ``--dask`` accepts, for error messages.
FORMS = "tcp://HOST:PORT (or tls://, ws://, wss://; HOST:PORT means tcp://), local, or local:N (N >= 1)"


class DaskError(Exception):
    """The cluster cannot be used: a bad address, a scheduler that does not answer, workers that
    cannot build the engine, or a chunk that killed every worker it was given to.

    The message starts with the option (``--dask:``) when the user's value is at fault.

    Examples
    --------
    >>> str(DaskError("--dask: 'x' is not a scheduler address"))
    "--dask: 'x' is not a scheduler address"
    """


@dataclass(frozen=True)
class DaskTarget:
    """Where to run: a scheduler's address, or a local cluster of some worker processes.

    Parameters
    ----------
    address
        The scheduler (``tcp://host:port``); None for a local cluster started for the run.
    local_workers
        Worker processes of the local cluster; None: one per core available.

    Examples
    --------
    >>> DaskTarget(None, None).label
    'a local Dask cluster (one worker process per core)'
    """

    address: str | None
    local_workers: int | None = None

    @property
    def label(self) -> str:
        """The cluster in words, for messages."""
        if self.address is not None:
            return f"the Dask scheduler at {self.address}"
        if self.local_workers is None:
            return "a local Dask cluster (one worker process per core)"
        return f"a local Dask cluster of {self.local_workers} worker process{'es' if self.local_workers > 1 else ''}"


def parse_target(text: str) -> DaskTarget:
    """Read the value of ``--dask``.

    Parameters
    ----------
    text
        ``tcp://HOST:PORT`` (also ``tls``, ``ws``, ``wss``; a bare ``HOST:PORT`` is TCP), ``local``
        or ``local:N``.

    Returns
    -------
    DaskTarget
        The scheduler to connect to, or the local cluster to start.

    Raises
    ------
    DaskError
        The text is none of these forms (the message names them).

    Examples
    --------
    >>> parse_target("scheduler.lan:8786").address
    'tcp://scheduler.lan:8786'
    >>> parse_target("local").local_workers is None
    True
    >>> parse_target("udp://x:1")
    Traceback (most recent call last):
    ...
    cds.cohort.dask_run.DaskError: --dask: 'udp://x:1' is not a scheduler address; expected tcp://HOST:PORT ...
    """
    value = text.strip()
    local = _LOCAL.match(value)
    if local:
        n = local.group("n")
        if n is not None and int(n) < 1:
            raise DaskError(f"--dask: {text!r} asks for no worker; expected {FORMS}")
        return DaskTarget(None, int(n) if n is not None else None)
    found = _ADDRESS.match(value)
    scheme = (found.group("scheme") or "tcp") if found else ""
    if not found or scheme not in _SCHEMES or not 0 < int(found.group("port")) < 65536:
        raise DaskError(f"--dask: {text!r} is not a scheduler address; expected {FORMS}")
    return DaskTarget(f"{scheme}://{found.group('host')}:{found.group('port')}")


def check_reachable(target: DaskTarget, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail early, before any output is written, when nothing listens at the scheduler's address.

    Opens a TCP connection to the address and closes it (the run then connects with Dask); a local
    cluster is always reachable.

    Parameters
    ----------
    target
        The cluster (:func:`parse_target`).
    timeout
        Seconds to wait for the connection.

    Raises
    ------
    DaskError
        The host is unknown, the connection is refused, or it does not answer in time.

    Examples
    --------
    >>> check_reachable(parse_target("local"))
    >>> check_reachable(parse_target("tcp://127.0.0.1:1"))
    Traceback (most recent call last):
    ...
    cds.cohort.dask_run.DaskError: --dask: cannot reach a Dask scheduler at tcp://127.0.0.1:1 (connection refused); ...
    """
    if target.address is None:
        return
    host, _, port = target.address.split("://", 1)[1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = ("connection refused" if isinstance(exc, ConnectionRefusedError)
                  else "no answer" if isinstance(exc, TimeoutError)
                  else "unknown host" if isinstance(exc, socket.gaierror) else exc.strerror or type(exc).__name__)
        raise DaskError(f"--dask: cannot reach a Dask scheduler at {target.address} ({reason}); start one "
                        f"(`dask scheduler`) or give its address") from None


# ------------------------------------------------------------------ worker side

_lock = threading.Lock()
_prepared: tuple[Callable[..., object], tuple[Any, ...]] | None = None


def _prepare(init: Callable[..., object], initargs: tuple[Any, ...]) -> None:
    """Run the initialiser in this worker process unless it already ran with these arguments."""
    global _prepared
    if _prepared is None or _prepared[0] is not init or _prepared[1] != initargs:
        if _prepared is None:
            _restore_malloc()
        init(*initargs)
        _prepared = (init, initargs)


#: Whether this process's allocator thresholds were restored (:func:`_restore_malloc`).
malloc_restored = False
#: glibc's mallopt parameters, and the thresholds restored in a Dask worker (bytes).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_THRESHOLD, _MMAP_THRESHOLD = 64 << 20, 32 << 20


def _restore_malloc() -> bool:
    """Undo the allocator setting a Dask nanny gives its workers, which halves the rule engine's speed.

    A nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (Dask's
    ``distributed.nanny.pre-spawn-environ``, to hand freed memory back to the system). Setting that
    variable at all freezes glibc's mmap threshold: the C rule engine's per-session blocks are then
    mapped and unmapped on every evaluation, and a worker evaluated half as many patients per
    second as a plain process (measured: 282 against 573 patients/s). A worker whose environment
    holds the variable gets fixed thresholds instead, large enough for the engine's blocks (its
    memory stays flat: the blocks are reused, not kept). Nothing is done elsewhere, or off glibc.

    Returns
    -------
    bool
        Whether the thresholds were changed.

    Examples
    --------
    >>> import os
    >>> _restore_malloc() == ("MALLOC_TRIM_THRESHOLD_" in os.environ and _glibc() is not None)
    True
    """
    global malloc_restored
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    libc = _glibc()
    if libc is None:
        return False
    malloc_restored = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return malloc_restored


def _glibc() -> Any:
    """The C library when it is glibc (the one with ``mallopt``), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _software_version() -> str:
    """This worker's netcds version (the rows carry it; a resume compares it with this process's)."""
    return SOFTWARE_VERSION


def _run_chunk(chunk: T, init: Callable[..., object], initargs: tuple[Any, ...], evaluate: Callable[[T], R]) -> R:
    """The task: one chunk, through this worker's engine (one at a time, whatever the worker's threads)."""
    with _lock:
        _prepare(init, initargs)
        return evaluate(chunk)


try:
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover - the `cohort` extra is not installed
    _PluginBase = object  # type: ignore[assignment,misc]


class EnginePlugin(_PluginBase):
    """Builds the engine in each worker when it is registered, and in every worker that joins later.

    Parameters
    ----------
    init
        The worker initialiser (the one the local pool runs); module-level, so that it travels
        by reference.
    initargs
        Its arguments (the run's settings).

    Examples
    --------
    >>> EnginePlugin(print, ("settings",)).initargs
    ('settings',)
    """

    def __init__(self, init: Callable[..., object], initargs: tuple[Any, ...]) -> None:
        self.init = init
        self.initargs = initargs

    def setup(self, worker: object) -> None:
        """Build the engine (called by Dask in the worker process).

        Parameters
        ----------
        worker
            The Dask worker (unused: the engine is per process).

        Examples
        --------
        >>> EnginePlugin(lambda: None, ()).setup(None)
        """
        with _lock:
            _prepare(self.init, self.initargs)


# ------------------------------------------------------------------ the client side


def _connect(target: DaskTarget) -> tuple[Client, Any]:
    from distributed import Client, LocalCluster

    if target.address is None:
        # The worker processes ignore Ctrl-C (they inherit the ignored SIGINT): this process stops the
        # cluster on KeyboardInterrupt, and the terminal gets no traceback from each worker.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            # CRITICAL: a worker whose scheduler goes first on Ctrl-C logs its failed heartbeat with a
            # traceback (a race at shutdown, not a fault); real failures reach the run as exceptions
            # (a lost chunk, a worker that cannot build its engine) and are reported by the runner.
            cluster = LocalCluster(n_workers=target.local_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        try:
            return Client(cluster, set_as_default=False), cluster
        except BaseException:
            cluster.close()
            raise
    try:
        client = Client(target.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DaskError(f"--dask: no Dask scheduler answered at {target.address} within {CONNECT_TIMEOUT:.0f} s "
                        f"({type(exc).__name__}); start one (`dask scheduler`) or give its address") from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError):
        client.close()
        raise DaskError(f"--dask: the scheduler at {target.address} has no worker (none joined within "
                        f"{CONNECT_TIMEOUT:.0f} s); start some (`dask worker {target.address}`)") from None
    return client, None


def ordered_map(
    items: Iterable[T],
    target: DaskTarget,
    *,
    init: Callable[..., object],
    initargs: tuple[Any, ...],
    evaluate: Callable[[T], R],
    window: int = WINDOW_PER_THREAD,
    started: Callable[[int], None] | None = None,
    verify: Callable[[], object] | None = None,
    expected: object = None,
) -> Iterator[R]:
    """``evaluate`` over ``items`` on a Dask cluster, results in input order, a bounded number in flight.

    Parameters
    ----------
    items
        The tasks' arguments (chunks of patients), read lazily.
    target
        The cluster (:func:`parse_target`); a local one is started here and stopped at the end.
    init, initargs
        Run once per worker process (by :class:`EnginePlugin`) before any task; module-level.
    evaluate
        The task; module-level (it travels by reference); pure, so a task can be run again.
    window
        Tasks in flight per worker thread.
    started
        Called once connected, with the number of worker threads.
    verify, expected
        Run ``verify`` on every worker once ``init`` has run there; a worker whose answer is not
        ``expected`` stops the run before any task (the runner checks the knowledge version: rows
        evaluated with other knowledge than this process's would be wrong for a resume and a diff).

    Yields
    ------
    R
        ``evaluate(item)`` for each item, in the order of ``items``.

    Raises
    ------
    DaskError
        The scheduler does not answer or has no worker, the workers cannot run ``init``, or a
        task killed its workers more often than the scheduler allows.

    Examples
    --------
    >>> list(ordered_map([], DaskTarget("tcp://127.0.0.1:1"), init=print, initargs=(), evaluate=len))
    []
    """
    iterator = iter(items)
    first = next(iterator, None)
    if first is None:
        return  # nothing to evaluate: no cluster to reach
    from distributed import KilledWorker

    client, cluster = _connect(target)
    run = uuid.uuid4().hex[:12]
    plugin = f"netcds-engine-{run}"
    pending: deque[Future[Any]] = deque()
    try:
        try:
            versions = set(client.run(_software_version).values())
            if versions - {SOFTWARE_VERSION}:
                raise DaskError(f"--dask: the workers of {target.label} run netcds {', '.join(sorted(versions))}, "
                                f"this process {SOFTWARE_VERSION}: install the same version on them")
            client.register_plugin(EnginePlugin(init, initargs), name=plugin)
            if verify is not None:
                found = set(client.run(verify).values()) - {expected}
                if found:
                    raise DaskError(f"--dask: the workers of {target.label} evaluate with knowledge "
                                    f"{', '.join(sorted(map(_versions, found)))}, this process with "
                                    f"{_versions(expected)}: install the same knowledge on them")
        except DaskError:
            raise
        except Exception as exc:
            raise DaskError(f"--dask: the workers of {target.label} cannot build the netcds engine "
                            f"({type(exc).__name__}: {exc}); install netcds and its knowledge on them") from None
        threads = sum(client.nthreads().values()) or 1
        if started is not None:
            started(threads)
        limit = max(1, window * threads)

        def submit(n: int, item: T) -> None:
            pending.append(client.submit(_run_chunk, item, init, initargs, evaluate, key=f"netcds-chunk-{run}-{n}",
                                         pure=False))

        submit(0, first)
        for n, item in enumerate(iterator, start=1):
            if len(pending) >= limit:
                yield _result(pending.popleft(), KilledWorker)
            submit(n, item)
        while pending:
            yield _result(pending.popleft(), KilledWorker)
    finally:
        for future in pending:
            future.cancel()
        pending.clear()
        with contextlib.suppress(Exception):  # the cluster may be gone already: nothing to undo then
            client.unregister_worker_plugin(plugin)
        client.close()
        if cluster is not None:
            cluster.close()


def _versions(value: object) -> str:
    """A worker's answer to ``verify`` in words (a tuple of versions reads as their list)."""
    return " + ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _result(future: Future[Any], killed: type[BaseException]) -> Any:
    try:
        result = future.result()
    except killed:
        raise DaskError("a chunk of patients was given to workers that all died while evaluating it (Dask's "
                        "allowed-failures); the rows written so far are kept: rerun to resume") from None
    future.release()
    return result
