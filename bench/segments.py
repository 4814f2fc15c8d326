"""segments: a trait + event-count-in-window rule ("plan is pro, and purchased at least twice in the last
30 days") over 1M profiles and 10M activities (full scale; small: 50k / 500k), answered three ways:

- size: `SELECT count(*)` over the compiled audience query (`segments.selectors.matching`), against its
  same-run ceiling, the query an expert would write for the same rule (the trait filter joined to
  `GROUP BY profile_id HAVING count(*) >= 2` over the window), and its twin that folds case as the rule's
  `eq` does; all warmed up, then run in turn, median. Also `selectors.estimate` (the API's size of an
  unsaved rule) against the same ceiling.
- membership of one profile: `selectors.in_segment` through Django in this process over a few hundred
  random profiles (p50/p99), against the compiled profiles-scope query alone; that query in turn against
  a hand-written one-profile query.
- refresh: `services.segment_refresh` the first time (every member new), then three times after 1 % of
  the profiles had their plan flipped (pro → free, anything else → pro: some leave, some join), median;
  its ceiling is the compiled rule's bare `SELECT count(*)` in the same run (a refresh must at least
  answer the rule).

Data (seeded): plans free 50 %, pro 25 %, team 10 %, enterprise 5 %, none 10 %; activities evenly spread
over the last 90 days and stored in time order (as ingestion appends them), 8 % of them purchases made by
one profile in five (the buyers), the rest page views, product views, carts and screens by anyone —
about 2 % of the profiles are in the segment. Loaded with COPY (foreign-key triggers off for the load,
the activity table's secondary indexes dropped before and rebuilt after, exactly as migrated), then
VACUUM ANALYZE, so autovacuum does not start in the middle of the measurements.

What bounds it (full scale, EXPLAIN (ANALYZE, BUFFERS)):
- size: both queries read the same rows (the window's ~270k purchases through (workspace, name, timestamp),
  a parallel bitmap heap scan grouped by profile, and every profile once). The trait leaf compiles to
  `lower((traits ->> 'plan') COLLATE "C") = 'pro' AND jsonb_typeof(traits -> 'plan') = 'string'`: exact
  for an operand that folds to ASCII (segments/compiler.py, `folded_equal`), a bare comparison the planner
  can estimate (leaves are wrapped in COALESCE only under `not`). Before those two changes the leaf was an
  ICU `lower` of a `#>>` read inside COALESCE: ~0.9 µs a profile against ~0.2 µs, estimated to keep half
  the profiles, so the profiles were scanned serially as the probe side of the join (2.14× the
  hand-written query; now ~1.15×).
- membership: `in_segment` reads the workspace's segment definitions (ids, slugs and rule versions; rules
  parsed once per version and process), then asks the rule of one profile (the profile by primary key,
  its window's activities by (profile, timestamp)); compiling the rule is ~0.3 ms.
- refresh: the rule answered once (a materialised CTE), anti-joined with the members both ways, the new
  members inserted and a size sample written; with 1 % changed it costs ~1.7 answers of the rule, the
  first time (every member inserted) ~3.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.harness import DB_DSN, Row, bench_env, database_reset, manage, report

SCALES = {"small": (50_000, 500_000), "full": (1_000_000, 10_000_000)}  # (profiles, activities)
RULE = {
    "all": [
        {"trait": "plan", "op": "eq", "value": "pro"},
        {"performed": "purchase", "within": "P30D", "count": {"op": "gte", "value": 2}},
    ]
}
PLANS = [("free", 0.50), ("pro", 0.25), ("team", 0.10), ("enterprise", 0.05), (None, 0.10)]
COUNTRIES = ["US", "DE", "FR", "GB", "BR", "IN", "JP", "ES"]
SPAN_DAYS = 90
BUYERS = 0.20  # share of the profiles who make the purchases
NAMES = [("page_view", 0.40), ("product_viewed", 0.25), ("add_to_cart", 0.12), ("screen", 0.15), ("purchase", 0.08)]
CHANGED = 0.01
REFRESH_ROUNDS = 3  # times 1 % of the profiles change, each followed by a refresh
SIZE_RUNS = 5
MEMBERSHIP_SAMPLE = 500
MEMBERS_SAMPLE = 200  # and this many members (their purchases are read, not only their traits)

HAND_WRITTEN = """
SELECT count(*) FROM activities_profile p
JOIN (
    SELECT profile_id FROM activities_activity
    WHERE workspace_id = %(ws)s AND name = 'purchase' AND timestamp >= %(since)s AND timestamp <= %(now)s
    GROUP BY profile_id HAVING count(*) >= 2
) buyers ON buyers.profile_id = p.id
WHERE p.workspace_id = %(ws)s AND p.merged_into_id IS NULL AND p.traits ->> 'plan' = 'pro'
"""
# The same, folding case as the rule's `eq` does (ICU lower, as Python's str.lower): the exact-semantics twin.
HAND_WRITTEN_FOLDED = HAND_WRITTEN.replace(
    "p.traits ->> 'plan' = 'pro'", "lower((p.traits ->> 'plan') COLLATE \"und-x-icu\") = 'pro'"
)
HAND_WRITTEN_ONE = """
SELECT p.id FROM activities_profile p
WHERE p.id = %(id)s AND p.workspace_id = %(ws)s AND p.merged_into_id IS NULL AND p.traits ->> 'plan' = 'pro'
AND (SELECT count(*) FROM activities_activity a WHERE a.profile_id = %(id)s AND a.name = 'purchase'
     AND a.timestamp >= %(since)s AND a.timestamp <= %(now)s) >= 2
"""


# --- Data ------------------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Callable[[], Any]:
    values = [v for v, _ in weighted]
    bounds, total = [], 0.0
    for _, weight in weighted:
        total += weight
        bounds.append(total)

    def pick() -> Any:
        x = rng.random() * total
        for value, bound in zip(values, bounds, strict=True):
            if x < bound:
                return value
        return values[-1]

    return pick


def _chunks(rows: Iterator[str], size: int = 50_000) -> Iterator[str]:
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def _profile_rows(rng: random.Random, workspace_id: int, first: int, count: int, now: datetime) -> Iterator[str]:
    plan = _pick(rng, PLANS)
    stamp = now.isoformat()
    for pk in range(first, first + count):
        chosen = plan()
        traits: dict[str, Any] = {"first_name": f"User {pk}", "country": rng.choice(COUNTRIES)}
        if chosen is not None:
            traits["plan"] = chosen
        text = json.dumps(traits).replace("\\", "\\\\")
        yield f"{pk}\t{workspace_id}\tu{pk}\t{text}\tu{pk}@bench.test\t\t\t\t{{}}\t[]\t{stamp}\t{stamp}\n"


def _activity_rows(
    rng: random.Random, workspace_id: int, first: int, profiles: int, count: int, now: datetime
) -> Iterator[str]:
    """`count` activities in time order over the last SPAN_DAYS, ending a second before `now`."""
    name = _pick(rng, NAMES)
    buyers = rng.sample(range(first, first + profiles), max(1, int(profiles * BUYERS)))
    values = [f'{{"value": {v}}}' for v in range(5, 500, 5)]
    end = int(now.timestamp()) - 1
    span = SPAN_DAYS * 86_400
    start = end - span
    minutes: dict[int, str] = {}
    for i in range(count):
        second = start + i * span // count
        minute = second // 60
        prefix = minutes.get(minute)
        if prefix is None:
            minutes.clear()
            prefix = minutes[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M:")
        ts = f"{prefix}{second % 60:02d}+00"
        chosen = name()
        if chosen == "purchase":
            pk, properties = buyers[int(rng.random() * len(buyers))], rng.choice(values)
        else:
            pk, properties = first + int(rng.random() * profiles), "{}"
        yield f"{workspace_id}\t{pk}\t{chosen}\ttrack\t{properties}\t{{}}\t{ts}\t{ts}\tb{i}\n"


def _load(workspace_id: int, profiles: int, activities: int, now: datetime) -> tuple[int, dict[str, float]]:
    """Profiles and activities written with COPY; the first profile id, and seconds per step."""
    rng = random.Random(20_240_601)
    took: dict[str, float] = {}
    with psycopg.connect(DB_DSN, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK trigger per row: the data is consistent
        conn.execute("SET maintenance_work_mem = '512MB'")
        row = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM activities_profile").fetchone()
        assert row is not None
        first = int(row[0])
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor().copy(
                "COPY activities_profile (id, workspace_id, user_id, traits, email, phone, timezone, "
                "locale, consent, tags, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for chunk in _chunks(_profile_rows(rng, workspace_id, first, profiles, now)):
                copy.write(chunk)
        conn.execute("SELECT setval('activities_profile_id_seq', (SELECT max(id) FROM activities_profile))")
        took["profiles"] = time.perf_counter() - started

        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'activities_activity' "
            "AND indexname <> 'activities_activity_pkey' ORDER BY indexname"
        ).fetchall()
        for index, _ in indexes:
            conn.execute(f'DROP INDEX "{index}"')
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor().copy(
                "COPY activities_activity (workspace_id, profile_id, name, type, properties, context, "
                "timestamp, received_at, message_id) FROM STDIN"
            ) as copy,
        ):
            for chunk in _chunks(_activity_rows(rng, workspace_id, first, profiles, activities, now)):
                copy.write(chunk)
        took["activities"] = time.perf_counter() - started
        started = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        took["indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE activities_profile")
        conn.execute("VACUUM ANALYZE activities_activity")
        took["vacuum"] = time.perf_counter() - started
    return first, took


# --- Measurements ----------------------------------------------------------------------------------


def _timed(text: str, params: Any) -> tuple[float, list[tuple]]:
    """Milliseconds for one statement on Django's connection (as the product runs it), and its rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(text, params)
        rows = cursor.fetchall()
        return (time.perf_counter() - started) * 1000, rows


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def _alternate(queries: dict[str, Callable[[], int | None]], runs: int = SIZE_RUNS) -> dict[str, tuple[float, Any]]:
    """Each query's median milliseconds and its answer: one warm-up each, then `runs` rounds in turn."""
    for query in queries.values():
        query()
    times: dict[str, list[float]] = {name: [] for name in queries}
    answers: dict[str, Any] = {}
    for _ in range(runs):
        for name, query in queries.items():
            started = time.perf_counter()
            answers[name] = query()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: (statistics.median(times[name]), answers[name]) for name in queries}


def _count(text: str, params: Any) -> Callable[[], int | None]:
    def count() -> int | None:
        return int(_timed(text, params)[1][0][0])

    return count


def _explain(text: str, params: Any) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params)
        return [row[0] for row in cursor.fetchall()]


def _refresh(segment_id: int, now: datetime) -> tuple[Any, float]:
    """One `segment_refresh`, timed (ms); a failed one stops the benchmark with the segment's error."""
    from segments.models import Segment
    from segments.services import segment_refresh

    started = time.perf_counter()
    refreshed = segment_refresh(segment_id=segment_id, now=now)
    took = (time.perf_counter() - started) * 1000
    assert refreshed is not None, Segment.objects.get(pk=segment_id).refresh_error
    return refreshed, took


def run(scale: str) -> None:
    os.environ.update(bench_env())
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from segments import selectors
    from segments.conditions import parse_condition
    from segments.models import Membership
    from segments.services import segment_create
    from workspaces.models import Workspace

    profiles, activities = SCALES[scale]
    connection.close()
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    workspace = Workspace.objects.get(pk=created["workspace_id"])
    loaded_at = datetime.now(UTC)
    first, loading = _load(workspace.pk, profiles, activities, loaded_at)

    segment = segment_create(workspace=workspace, actor=None, data={"name": "Pro repeat buyers", "rule": RULE})
    rule = parse_condition(RULE, "rule")
    now = timezone.now()
    since = now - timedelta(days=30)
    hand = {"ws": workspace.pk, "since": since, "now": now}

    # 1. Size.
    compiled = selectors.matching(workspace.pk, rule, now=now)
    counted = f"SELECT count(*) FROM ({compiled.text}) counted"
    sizes = _alternate(
        {
            "compiled": _count(counted, compiled.params),
            "hand": _count(HAND_WRITTEN, hand),
            "folded": _count(HAND_WRITTEN_FOLDED, hand),
            "estimate": lambda: selectors.estimate(workspace.pk, rule, timeout_ms=600_000).size,
        }
    )
    (size_ms, size), (hand_ms, expected) = sizes["compiled"], sizes["hand"]
    assert size == expected == sizes["folded"][1] == sizes["estimate"][1], sizes
    default_timeout = settings.NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS
    estimated = selectors.estimate(workspace.pk, rule, timeout_ms=default_timeout)
    plan = _explain(counted, compiled.params)
    hand_plan = _explain(HAND_WRITTEN, hand)

    # 2. Membership of one profile.
    rng = random.Random(7)
    sample = [first + rng.randrange(profiles) for _ in range(MEMBERSHIP_SAMPLE)]
    members = {row[0] for row in _timed(compiled.text, compiled.params)[1]}
    for pk in sample[:20]:  # warm-up: the definitions, the dialect, the connection
        selectors.in_segment(workspace.pk, segment.slug, pk, now=now)
    api_ms, raw_ms, hand_one_ms = [], [], []
    inside = 0
    for pk in sample:
        started = time.perf_counter()
        answer = selectors.in_segment(workspace.pk, segment.slug, pk, now=now)
        api_ms.append((time.perf_counter() - started) * 1000)
        assert answer == (pk in members), f"in_segment({pk}) = {answer}"
        inside += answer
        one = selectors.matching(workspace.pk, rule, profile_ids=[pk], now=now)
        ms, rows = _timed(one.text, one.params)
        raw_ms.append(ms)
        assert bool(rows) == answer
        ms, rows = _timed(HAND_WRITTEN_ONE, {**hand, "id": pk})
        hand_one_ms.append(ms)
        assert bool(rows) == answer
    chosen = sorted(members)
    member_ms = []
    for pk in rng.sample(chosen, min(MEMBERS_SAMPLE, len(chosen))):
        started = time.perf_counter()
        answer = selectors.in_segment(workspace.pk, segment.slug, pk, now=now)
        member_ms.append((time.perf_counter() - started) * 1000)
        assert answer, f"in_segment({pk}) = {answer}"
    one_query = selectors.matching(workspace.pk, rule, profile_ids=[sample[0]], now=now)
    one_plan = _explain(one_query.text, one_query.params)

    # 3. Refresh: all new, then after 1 % of the plans flipped.
    first_refresh, first_ms = _refresh(segment.pk, now)
    assert first_refresh is not None and first_refresh.size == size and first_refresh.entered == size
    before = set(Membership.objects.filter(segment=segment).values_list("profile_id", flat=True))
    assert before == members
    refresh_ms, count_ms, moves = [], [], []
    for _ in range(REFRESH_ROUNDS):
        changed = rng.sample(range(first, first + profiles), int(profiles * CHANGED))
        with psycopg.connect(DB_DSN, autocommit=True) as conn:
            conn.execute(
                "UPDATE activities_profile SET updated_at = now(), traits = jsonb_set(traits, '{plan}', "
                "CASE WHEN traits ->> 'plan' = 'pro' THEN '\"free\"'::jsonb ELSE '\"pro\"'::jsonb END) "
                "WHERE id = ANY(%s)",
                (changed,),
            )
        after = {row[0] for row in _timed(compiled.text, compiled.params)[1]}
        count_ms.append(_timed(counted, compiled.params)[0])
        refreshed, refresh_took = _refresh(segment.pk, now)
        refresh_ms.append(refresh_took)
        assert not refreshed.silent
        expected_move = (len(after), len(after - before), len(before - after))
        assert (refreshed.size, refreshed.entered, refreshed.exited) == expected_move, (refreshed, expected_move)
        assert set(Membership.objects.filter(segment=segment).values_list("profile_id", flat=True)) == after
        moves.append(f"+{refreshed.entered:,} / −{refreshed.exited:,}")
        before = after

    table = [
        Row("size: count(*) of the compiled rule, ms", size_ms, hand_ms, "≤ 1.5×", "ms"),
        Row("size: the same vs case-folding hand-written", size_ms, sizes["folded"][0], "—", "ms"),
        Row("size: selectors.estimate, ms", sizes["estimate"][0], hand_ms, "—", "ms"),
        Row("in_segment one profile p50, ms", _pct(api_ms, 0.5), _pct(raw_ms, 0.5), "≤ 5 ms", "ms"),
        Row("in_segment one profile p99, ms", _pct(api_ms, 0.99), _pct(raw_ms, 0.99), "≤ 5 ms", "ms"),
        Row("in_segment p99, members only, ms", _pct(member_ms, 0.99), None, "≤ 5 ms", "ms"),
        Row("compiled one-profile query p50, ms", _pct(raw_ms, 0.5), _pct(hand_one_ms, 0.5), "—", "ms"),
        Row("compiled one-profile query p99, ms", _pct(raw_ms, 0.99), _pct(hand_one_ms, 0.99), "—", "ms"),
        Row("first refresh (all new), ms", first_ms, size_ms, "—", "ms"),
        Row(
            f"refresh after {CHANGED:.0%} changed, ms",
            statistics.median(refresh_ms),
            statistics.median(count_ms),
            "—",
            "ms",
        ),
    ]
    notes = [
        f"{profiles:,} profiles, {activities:,} activities over {SPAN_DAYS} days; the segment holds {size:,} "
        f"({size / profiles:.1%}); rule {json.dumps(RULE)}.",
        f"size: median of {SIZE_RUNS} runs after a warm-up, in turn; ceiling: the hand-written query "
        "(traits ->> 'plan' = 'pro' joined to GROUP BY profile_id HAVING count(*) >= 2), and its twin folding "
        "case as the rule's eq does (lower((traits ->> 'plan') COLLATE \"und-x-icu\") = 'pro'); all count the same.",
        f"estimate (timed with no timeout) within the default NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS={default_timeout:,}: "
        + (f"{estimated.size:,} of {estimated.profiles:,}" if estimated.size is not None else "did not finish")
        + ".",
        f"membership: {MEMBERSHIP_SAMPLE} random profiles ({inside} in the segment), each answered by "
        "in_segment (ceiling: the compiled profiles-scope query alone), that query (ceiling: a hand-written "
        f"one-profile query); all three agree on every profile. Then {len(member_ms)} members by in_segment.",
        f"refresh: first {first_refresh.size:,} entered (silent); then {REFRESH_ROUNDS} times "
        f"{int(profiles * CHANGED):,} profiles' plans flipped and refreshed ({', '.join(moves)}; each checked "
        "against the rule before and after), median; ceiling: the compiled rule's count(*) just before each.",
        "load: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in loading.items()) + ".",
    ]
    report("segments", scale, table, notes)
    if os.environ.get("BENCH_PLANS"):
        for title, lines in (("compiled", plan), ("hand-written", hand_plan), ("one profile", one_plan)):
            print(f"\n{title}:\n" + "\n".join(lines))
