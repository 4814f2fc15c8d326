"""memory: resident memory of the web and worker processes over a soak at half the measured capacity,
and how much it grew (target ≤ 10 %).

Set-up: evaluate's workload (100 live journeys, 20 behaviors, events over 1,000 / 10,000 users) offered
to `POST /v1/batch` (gunicorn, 2 workers × 4 threads) in requests of 50, open loop, with a Celery worker
(2 processes) running the pipeline — the topology of evaluate's latency run.
Capacity: measured first in the same processes, end to end, because ingestion and evaluation share the
two cores: a burst offered at 1,000 events/s, divided by the time until the pipeline has drained. (The
in-process `evaluate` rate leaves ingestion out and would overstate it.) The burst is also the warm-up.
Soak: half that capacity for 10 minutes (1 at small scale), then the drain. RSS is VmRSS from
/proc/<pid>/status (no psutil), summed over the gunicorn master and workers and over the Celery main
process and its pool, every few seconds. Start is the first sample after the soak's first 10 % (code
paths, caches and connections settle), end the last (after the drain), max the largest.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

from bench.evaluate import batch_body, drain, nothing_pending, workload_publish, write_auth
from bench.harness import Row, bench_env, celery_worker, gunicorn, report
from bench.loadgen import post_paced

SCALES = {"small": (60, 1_000), "full": (600, 10_000)}  # (soak seconds, users)
BURST = {"small": (5, 1_000), "full": (10, 1_000)}  # (seconds, events/s) offered to measure capacity
SAMPLE_SECONDS = {"small": 2.0, "full": 5.0}
WARM_UP = 0.1  # of the soak, before the start sample


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it exited while we looked
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _trees() -> dict[str, list[int]]:
    """{"web": gunicorn master and workers, "worker": Celery main and pool}, among this process's children."""
    trees: dict[str, list[int]] = {"web": [], "worker": []}
    for pid in _children(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        side = "web" if b"gunicorn" in command else "worker" if b"celery" in command else None
        if side:
            trees[side] += [pid, *_children(pid)]
    return trees


class Sampler(threading.Thread):
    """RSS in MiB of each side every `interval` s, with the time, until stopped."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.processes: dict[str, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            trees = _trees()
            self.processes = {side: len(pids) for side, pids in trees.items()}
            self.samples.append(
                (time.monotonic(), {side: sum(map(_rss_kib, pids)) / 1024 for side, pids in trees.items()})
            )
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _offer(base: str, auth: str, rng: random.Random, users: int, seconds: float, rate: float, tag: str) -> int:
    """`rate` events/s for `seconds` to /v1/batch in requests of 50; the events sent (all answered 200)."""
    requests = max(1, int(seconds * rate / 50))
    bodies = [batch_body(rng, users, f"{tag}-{i}") for i in range(requests)]
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    result = post_paced(f"{base}/v1/batch", bodies, headers, 50 / rate)
    if result.statuses != {200: requests}:
        raise SystemExit(f"memory: {tag}: statuses {result.statuses} for {requests} requests")
    return requests * 50


def run(scale: str) -> None:
    os.environ.update(bench_env())
    import django

    django.setup()
    soak, users = SCALES[scale]
    burst_seconds, burst_rate = BURST[scale]
    workspace = workload_publish()
    auth = write_auth(workspace, "soak")
    rng = random.Random(13)
    nothing_pending("the soak")
    with gunicorn() as base, celery_worker():
        started = time.monotonic()
        events = _offer(base, auth, rng, users, burst_seconds, burst_rate, "burst")
        drain(events)
        capacity = events / (time.monotonic() - started)
        offered = capacity / 2
        sampler = Sampler(SAMPLE_SECONDS[scale])
        sampler.start()
        soak_started = time.monotonic()
        soaked = _offer(base, auth, rng, users, soak, offered, "soak")
        drain(soaked)
        sampler.stop()
    after_warm_up = [s for t, s in sampler.samples if t >= soak_started + WARM_UP * soak]
    if len(after_warm_up) < 2:
        raise SystemExit(f"memory: {len(sampler.samples)} samples, too few after the warm-up")
    rows = [Row("events/s offered in the soak (½ of capacity)", offered, capacity, "0.5 of capacity")]
    growth = {}
    for side, label in (("web", "web (gunicorn)"), ("worker", "worker (Celery)")):
        start, end = after_warm_up[0][side], after_warm_up[-1][side]
        growth[side] = (end - start) / start * 100 if start else 0.0
        rows += [
            Row(f"{label} RSS MiB at start", start, None, "—"),
            Row(f"{label} RSS MiB at end", end, None, "—"),
            Row(f"{label} RSS MiB max", max(s[side] for s in after_warm_up), None, "—"),
            Row(f"{label} RSS growth %", growth[side], None, "≤ 10 %"),
        ]
    notes = [
        f"capacity: {events:,} events offered at {burst_rate:,}/s over {burst_seconds} s through gunicorn and the "
        f"worker, over the seconds until the pipeline drained; soak: {soaked:,} events over {soak} s, then drained.",
        f"RSS: VmRSS summed over {sampler.processes.get('web', 0)} web and {sampler.processes.get('worker', 0)} "
        f"worker processes, every {SAMPLE_SECONDS[scale]:g} s ({len(sampler.samples)} samples); start is the first "
        f"sample after the first {WARM_UP:.0%} of the soak, end the last (after the drain).",
    ]
    report("memory", scale, rows, notes)
