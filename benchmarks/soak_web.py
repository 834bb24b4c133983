"""Soak test of the web app: ``pixelar serve`` on small random-weight models, on 127.0.0.1, under
a bounded loop of concurrent sample / complete / bits / compress(+decompress) requests, with
the server's memory watched throughout.

    python benchmarks/soak_web.py [--requests 200] [--clients 8] [--seed 0] [--no-rate-limit]

The server is a child process, ``python -m pixelar serve DIR --port P`` on a free port (with
``--no-rate-limit``: the same ``serve()`` with ``Limits(rate=0)``), serving a binary grey
PixelCNN and an 8-bit colour Gated PixelCNN (8×8, random weights, nothing trained). ``clients``
threads share ``requests`` requests, each a random kind on a random model with small random
images (see soak_web_calls.py), each answer checked: sampled images of the right shape and
levels, completions that keep the known rows, finite bits per pixel, a compressed file that
decompresses (one more request) to exactly the images sent.

Counting. Every request is answered exactly once, in one of three ways:

* ok: a 2xx answer whose body passes its check;
* refused: a documented refusal, 429 (past the rate limit: at most 2 requests a second from one
  address, bursts of 20, which the 8 clients on 127.0.0.1 share) or 503 (the model busy with
  other requests for over 10 s), with a one-line JSON error and a ``Retry-After`` (whole seconds);
  for sampling, before its stream starts. The client waits as told (at most 5 s) and sends the
  same request again: a refusal is counted, but it does not use up one of the ``requests``;
* failed: anything else: another status, no answer (connection error, or none within 60 s), a
  malformed body. Each tracebacks the server logs, and a server that does not stop within 15 s
  of SIGTERM, are failures too.

The loop stops by itself: after ``requests`` answers, or at ``max_seconds`` (the requests not
made by then are one failure), or after 20 refusals per request. Before it, a warm-up of
``max(2 * clients, requests // 5)`` requests the same way (they load the models, start the
server's worker threads and fill its caches; counted in ``warmup``, their failures in
``failures``).

Memory flat. The server's resident set size (VmRSS, /proc) is sampled every 0.25 s. The loop's
first half is until half its requests are answered; the memory is flat when the peak of the
second half is at most :data:`FLAT_FRACTION` (10 %) of the memory at the start, and at least
:data:`FLAT_MB`, above the peak of the first half: about 33 MB for the ~330 MB server, which
flags a leak of about 330 KB a request or more over 200 requests. A leak grows the memory with
every request, so the second half's peak rises with it. What is not a leak, measured: the
allocator's high-water mark grows in steps while concurrent requests overlap and then stays
(1000 requests, 8 clients, no rate limit: 383 → 391 MB in the first half, up to 408 MB at 80 %,
then flat; with MALLOC_ARENA_MAX=1 less; the Python heap, traced, stayed under 0.4 MB; the same
requests made one at a time in one process, three passes over the same sequence, grew only in
the first pass). And PyTorch caches work per input shape (oneDNN primitives, bounded), so with
sizes drawn at random (1–16 a side) the memory grew by ~40 KB a request for the first hundreds
of requests: the images sent here come in a fixed few sizes (random sizes are soak_codec.py's part).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak_web_server as web_server
from soak_report import MAX_ERRORS, one_line, table
from soak_web_calls import CALLS, REFUSALS, Call, Reply, send

FLAT_MB = 16.0  # the second half's memory peak may exceed the first half's by this much ...
FLAT_FRACTION = 0.10  # ... or by this fraction of the memory at the start, whichever is more
SAMPLE_SECONDS = 0.25  # how often the server's memory is read
MAX_WAIT = 5.0  # the longest a refused client waits before it asks again
REFUSALS_PER_REQUEST = 20  # the loop stops after this many refusals per request


class Tally:
    """The answers of one loop, shared by its client threads."""

    def __init__(self, requests: int, phase: str) -> None:
        self.requests, self.phase = requests, phase
        self.lock = threading.Lock()
        self.taken = self.answered = self.ok = self.refused = self.failures = 0
        self.errors: list[str] = []
        self.by_kind: dict[str, list[int]] = {}  # kind -> [ok, refused, failed]

    def take(self) -> bool:
        """Take one of the requests to make; False when all are taken."""
        with self.lock:
            if self.taken >= self.requests:
                return False
            self.taken += 1
            return True

    def count(self, kind: str, outcome: int, problem: str | None = None) -> None:
        """Count an answer: ``outcome`` 0 ok, 1 refused, 2 failed (with ``problem``)."""
        with self.lock:
            self.by_kind.setdefault(kind, [0, 0, 0])[outcome] += 1
            if outcome == 1:
                self.refused += 1
                return
            self.answered += 1
            if outcome == 0:
                self.ok += 1
            else:
                self.fail(problem or "?")

    def fail(self, problem: str) -> None:
        """Count a failure (the caller holds the lock, or no client runs)."""
        self.failures += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(one_line(f"{self.phase}: {problem}" if self.phase else problem))


def refusal(reply: Reply) -> tuple[float | None, str | None]:
    """For a 429/503: how long to wait, or what is wrong with the refusal."""
    message = reply.message()
    if not message or message == "(empty body)" or "\n" in message:
        return None, f"a {reply.status} refusal without its one-line JSON error"
    retry = reply.headers.get("Retry-After") or reply.headers.get("retry-after")
    if not (retry and retry.isdigit()):
        return None, f"a {reply.status} refusal without a Retry-After of whole seconds ({retry!r})"
    return float(retry), None


def client(base: str, tally: Tally, seed: int, deadline: float, stop: threading.Event) -> None:
    """One client: take a request, make it (again, as long as it is refused), check the answer;
    then the next, until none are left, the deadline passes or ``stop`` is set."""
    rng = random.Random(seed)
    opener = web_server.no_proxy_opener()
    names = list(web_server.SERVED)
    pending: Call | None = None
    while not stop.is_set() and time.monotonic() < deadline:
        if not tally.take():
            return
        if pending is None:
            name = rng.choice(names)
            pending = CALLS[rng.choice(list(CALLS))](rng, name, web_server.SERVED[name])
        call, pending = pending, None
        where = f"{call.kind} {call.params.get('model')}"
        while True:
            reply = send(opener, base, call)
            if reply.status not in REFUSALS or reply.error:
                break
            wait, problem = refusal(reply)
            if problem:
                break
            tally.count(call.kind, 1)
            if tally.refused > REFUSALS_PER_REQUEST * tally.requests:
                stop.set()
            if stop.is_set() or time.monotonic() + (wait or 0) > deadline:
                tally.count(call.kind, 2, f"{where}: still refused when the loop stopped")
                return
            time.sleep(min(wait or 1.0, MAX_WAIT) * rng.uniform(1.0, 1.2))
        if reply.error:
            tally.count(call.kind, 2, f"{where}: {reply.error}")
        elif reply.status in REFUSALS:
            tally.count(call.kind, 2, f"{where}: {problem}")
        elif not 200 <= reply.status < 300:
            tally.count(call.kind, 2, f"{where}: status {reply.status}: {reply.message()}")
        else:
            try:
                problem, pending = call.check(reply)
            except Exception as e:  # a check that trips over a malformed answer
                problem, pending = f"a malformed answer ({type(e).__name__}: {e})", None
            tally.count(call.kind, 0 if problem is None else 2, f"{where}: {problem}")


def loop(base: str, tally: Tally, clients: int, seed: int, deadline: float) -> None:
    """``clients`` threads making ``tally.requests`` requests; returns once all are done."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(base, tally, seed * 1000 + i, deadline, stop), daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 2 * 60.0)  # a request's own limit is 60 s
    if tally.answered < tally.requests:
        missing = tally.requests - tally.answered
        tally.fail(f"{missing} of {tally.requests} requests not answered when the loop stopped (deadline or refusals)")


def watch_memory(server: web_server.Server, tally: Tally, samples: list[tuple[int, float]], stop: threading.Event):
    """Record (requests answered, RSS in MB) every :data:`SAMPLE_SECONDS` until ``stop``."""
    while not stop.wait(SAMPLE_SECONDS):
        rss = server.rss_mb()
        if rss is not None:
            samples.append((tally.answered, rss))


def memory(samples: list[tuple[int, float]], requests: int) -> dict[str, Any]:
    """The memory numbers of the loop's samples (the first taken before it, the last after)."""
    first = [rss for done, rss in samples[:-1] if done < requests / 2] or [samples[0][1]]
    second = [rss for done, rss in samples[1:] if done >= requests / 2] or [samples[-1][1]]
    growth = max(second) - max(first)
    tenths = [max((rss for done, rss in samples if done <= requests * k / 10), default=0.0) for k in range(1, 11)]
    return {
        "rss_start_mb": round(samples[0][1], 1),
        "rss_end_mb": round(samples[-1][1], 1),
        "rss_peak_mb": round(max(rss for _, rss in samples), 1),
        "second_half_growth_mb": round(growth, 1),
        "memory_flat": growth <= max(FLAT_MB, FLAT_FRACTION * samples[0][1]),
        "rss_by_tenth_mb": [round(rss, 1) for rss in tenths],  # the peak up to each tenth of the requests
    }


def run(
    requests: int = 200, clients: int = 8, seed: int = 0, rate_limited: bool = True, max_seconds: float = 900.0
) -> dict[str, Any]:
    """The web soak (see the module docstring): its result has name, attempts (``requests``),
    failures, refused, errors (the first few, one line each), the server's memory at the
    start, end and peak of the loop in MB, the second half's growth, memory_flat, the answers
    per kind (ok/refused/failed), warmup, and seconds."""
    started = time.perf_counter()
    deadline = time.monotonic() + max_seconds
    warmup = max(2 * clients, requests // 5)
    with tempfile.TemporaryDirectory(prefix="pixelar-soak-web-") as tmp:
        root = Path(tmp)
        web_server.save_models(root / "models", seed)
        server = web_server.start(root / "models", root, rate_limited)
        try:
            warm = Tally(warmup, "warm-up")
            loop(server.url, warm, clients, seed + 1, deadline)
            tally = Tally(requests, "")
            samples = [(0, server.rss_mb() or 0.0)]
            stop = threading.Event()
            watcher = threading.Thread(target=watch_memory, args=(server, tally, samples, stop), daemon=True)
            watcher.start()
            loop(server.url, tally, clients, seed + 2, deadline)
            stop.set()
            watcher.join()
            time.sleep(0.5)  # let the last requests' work settle
            samples.append((tally.answered, server.rss_mb() or 0.0))
        finally:
            stopped = server.stop()
        tracebacks = server.tracebacks()
    for line in tracebacks:
        tally.fail(f"the server logged a traceback: {line}")
    if stopped.startswith("killed") or stopped.startswith("had exited"):
        tally.fail(f"the server {stopped}")
    errors = (warm.errors + tally.errors)[:MAX_ERRORS]
    return {
        "name": "web requests",
        "attempts": requests,
        "failures": warm.failures + tally.failures,
        "refused": tally.refused,
        "errors": errors,
        **memory(samples, requests),
        "by_kind": {kind: "/".join(map(str, counts)) for kind, counts in sorted(tally.by_kind.items())},
        "clients": clients,
        "rate_limited": rate_limited,
        "warmup": f"{warmup} requests, {warm.refused} refused, {warm.failures} failed",
        "server": stopped,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=200, help="requests answered other than by a refusal (200)")
    p.add_argument("--clients", type=int, default=8, help="concurrent client threads (8)")
    p.add_argument("--seed", type=int, default=0, help="seeds the models, the requests and their images")
    p.add_argument(
        "--no-rate-limit", action="store_true", help="serve without the rate limit (Limits(rate=0)), so nothing is 429"
    )
    p.add_argument("--max-seconds", type=float, default=900.0, help="stop the loop after this long (900)")
    args = p.parse_args(argv)
    result = run(args.requests, args.clients, args.seed, not args.no_rate_limit, args.max_seconds)
    print(table(result))
    return 0 if result["failures"] == 0 and result["memory_flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
