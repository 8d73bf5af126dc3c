"""A small HTTP load generator for the service benchmarks: closed loop, open loop, saturation.

Used by ``bench/hooks.py``; importable on its own::

    from bench.loadgen import Request, closed_loop, open_loop, saturation

Why our own: the figures must separate the generator's CPU from the server's on a 2-core
machine the two share, and the open loop must not hide queueing (coordinated omission): each
request's latency runs from the moment it was *due*, not the moment the generator got round to
sending it. ``httpx.AsyncClient`` on one asyncio loop keeps the generator to one thread; its CPU
time (user + system) is read from ``getrusage`` around each run and reported with the figures.

Requests are made before the clock starts (``make`` is called ahead for the whole run), so the
cost of building them (signing JWTs, serialising bundles) is not in the generator's CPU during
the run either.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import httpx

from tests.support.procs import cpu_since, tree_cpu


@dataclass(frozen=True)
class Request:
    """One prepared POST: path, headers and body (bytes)."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RunResult:
    """What a run measured.

    ``latencies_ms`` are of the answered requests (any status); ``statuses`` counts the statuses
    (``"error"`` for a connection failure or a client time-out); ``generator_cpu_s`` is this
    process's CPU over the run; ``server_cpu_s`` the server's process tree's, when its pid is
    known.
    """

    name: str
    offered_rps: float | None
    wall_s: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    generator_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    late_sends: int = 0  # open loop: requests sent more than 5 ms after they were due

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the latencies, nearest rank; NaN when none."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]

    def line(self) -> str:
        """One line of figures for the bench's printout."""
        done = len(self.latencies_ms)
        ok = self.statuses.get("200", 0)
        errors = sum(n for s, n in self.statuses.items() if s != "200")
        offered = f"offered {self.offered_rps:g}/s, " if self.offered_rps else ""
        server = f", server CPU {self.server_cpu_s / self.wall_s:.2f} cores" if self.server_cpu_s is not None else ""
        late = f", late sends {self.late_sends}" if self.offered_rps else ""
        mean = statistics.fmean(self.latencies_ms) if self.latencies_ms else math.nan
        worst = max(self.latencies_ms, default=0.0)
        return (f"{self.name}: {offered}{done / self.wall_s:.1f} answers/s, p50 {self.percentile(50):.1f} ms, "
                f"p99 {self.percentile(99):.1f} ms, mean {mean:.1f} ms, max {worst:.1f} ms, "
                f"200: {ok}, other: {errors} {dict(s for s in self.statuses.items() if s[0] != '200')}; "
                f"generator CPU {self.generator_cpu_s / self.wall_s:.2f} cores"
                f" ({1000 * self.generator_cpu_s / max(done, 1):.2f} ms/request){server}{late}")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _measured(result: RunResult, server_pid: int | None) -> Iterator[float]:
    """Time a run and the CPU it cost: this generator's, and the server's process tree's (by pid).

    Yields the start time (``perf_counter``); fills ``wall_s``, ``generator_cpu_s`` and, when
    the server's pid is known, ``server_cpu_s`` when the block ends.
    """
    server0 = tree_cpu(server_pid) if server_pid else None
    cpu0, t0 = _cpu(), time.perf_counter()
    yield t0
    result.wall_s = time.perf_counter() - t0
    result.generator_cpu_s = _cpu() - cpu0
    if server_pid and server0 is not None:
        result.server_cpu_s = cpu_since(server0, server_pid)


async def _send(client: httpx.AsyncClient, request: Request, due: float, result: RunResult) -> None:
    try:
        response = await client.post(request.path, headers=request.headers, content=request.body)
        status = str(response.status_code)
    except httpx.HTTPError:
        status = "error"
    result.latencies_ms.append((time.perf_counter() - due) * 1000)
    result.statuses[status] += 1


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(30.0))


def closed_loop(base_url: str, requests: Sequence[Request], *, server_pid: int | None = None,
                name: str = "one client") -> RunResult:
    """One client, one request at a time: the latency without queueing."""

    async def run() -> RunResult:
        async with _client(base_url, 1) as client:
            await client.post(requests[0].path, headers=requests[0].headers, content=requests[0].body)  # connect
            result = RunResult(name, None, 0.0)
            with _measured(result, server_pid):
                for request in requests[1:]:
                    await _send(client, request, time.perf_counter(), result)
            return result

    return asyncio.run(run())


def open_loop(base_url: str, rate: float, make: Callable[[int], Request], duration_s: float, *,
              server_pid: int | None = None, connections: int = 200) -> RunResult:
    """Requests due at a fixed rate whatever the answers: the latency a steady EHR load sees.

    Each request's latency counts from when it was due (no coordinated omission); a request the
    generator sent more than 5 ms late is counted in ``late_sends`` (the generator, not the
    server, was the bottleneck then).
    """
    count = max(1, int(rate * duration_s))
    prepared = [make(i) for i in range(count)]

    async def run() -> RunResult:
        result = RunResult(f"open loop {rate:g}/s", rate, 0.0)
        async with _client(base_url, connections) as client:
            tasks: list[asyncio.Task[None]] = []
            with _measured(result, server_pid) as t0:
                for i, request in enumerate(prepared):
                    due = t0 + i / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif -delay > 0.005:
                        result.late_sends += 1
                    tasks.append(asyncio.create_task(_send(client, request, due, result)))
                await asyncio.gather(*tasks)
        return result

    return asyncio.run(run())


def saturation(base_url: str, clients: int, make: Callable[[int], Request], duration_s: float, *,
               server_pid: int | None = None) -> RunResult:
    """``clients`` clients each sending as soon as its last answer came: the throughput ceiling."""
    # enough prepared requests for a fast server; each client takes the next one
    prepared = [make(i) for i in range(int(duration_s * 1000))]

    async def run() -> RunResult:
        result = RunResult(f"saturation, {clients} clients", None, 0.0)
        cursor = iter(prepared)
        async with _client(base_url, clients) as client:
            with _measured(result, server_pid) as t0:
                stop = t0 + duration_s

                async def one_client() -> None:
                    while time.perf_counter() < stop:
                        request = next(cursor, None)
                        if request is None:
                            return
                        await _send(client, request, time.perf_counter(), result)

                await asyncio.gather(*(one_client() for _ in range(clients)))
        return result

    return asyncio.run(run())
