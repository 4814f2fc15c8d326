"""The SQL compiler on named examples (both databases), the SQL it emits (snapshots, as PostHog's
QueryMatchingTest does), and the rules a query refuses (a segment that includes itself)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connections

from activities.models import Activity, Profile
from segments.compiler import (
    ACTIVITIES,
    DEVICES,
    MEMBERS,
    PROFILES,
    CompileError,
    Postgres,
    Scope,
    SegmentDef,
    Sqlite,
    compile_condition,
)
from segments.conditions import parse_condition
from segments.models import Membership
from workspaces.models import Workspace

NOW = datetime(2025, 1, 10, 12, tzinfo=UTC)


def test_the_compiler_names_the_tables_the_models_use():
    from activities.models import PushDevice

    assert (
        Profile._meta.db_table,
        Activity._meta.db_table,
        PushDevice._meta.db_table,
        Membership._meta.db_table,
    ) == (PROFILES, ACTIVITIES, DEVICES, MEMBERS)


def _ids(alias: str, condition: dict, workspace: Workspace, profiles: tuple[int, ...] | None = None) -> set[int]:
    dialect = Postgres() if alias == "default" else Sqlite()
    query = compile_condition(parse_condition(condition), dialect=dialect, scope=Scope(workspace.pk, profiles), now=NOW)
    with connections[alias].cursor() as cursor:
        cursor.execute(query.text, query.params)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(databases=["default", "embedded"])
@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_examples_of_each_kind_of_condition(alias):
    ws = Workspace.objects.using(alias).create(name="W", slug="w")
    ann = Profile.objects.using(alias).create(
        workspace=ws,
        user_id="ann",
        email="ann@example.com",
        tags=["vip"],
        first_seen=NOW,
        traits={"n": "12", "city": "İSTANBUL", "born": "2024-01-01T10:00:00+05:30", "list": [1, "X"], "ok": True},
    )
    bob = Profile.objects.using(alias).create(
        workspace=ws, user_id="bob", traits={"n": 5, "city": "ankara", "born": "2024-02-30"}
    )
    for n, price in enumerate((150, 50)):
        Activity.objects.using(alias).create(
            workspace=ws,
            profile=ann,
            name="purchase",
            type="track",
            properties={"price": price},
            timestamp=NOW,
            received_at=NOW,
            message_id=str(n),
        )
    a, b = ann.pk, bob.pk
    examples = [
        ({"trait": "n", "op": "gt", "value": 10}, {a}),  # "12" is a number
        ({"trait": "city", "op": "eq", "value": "i̇stanbul"}, {a}),  # İ folds to i̇, as Python folds it
        ({"trait": "city", "op": "contains", "value": "KAR"}, {b}),
        ({"trait": "born", "op": "before", "value": "2024-01-01T06:00:00Z"}, {a}),  # 04:30 UTC
        ({"trait": "born", "op": "exists"}, {a, b}),
        ({"trait": "born", "op": "after", "value": "2000-01-01"}, {a}),  # 30 February is no date
        ({"trait": "list", "op": "contains", "value": "1"}, {a}),
        ({"trait": "list", "op": "contains", "value": "x"}, {a}),
        ({"trait": "ok", "op": "is_true"}, {a}),
        ({"trait": "ok", "op": "neq", "value": True}, {b}),
        ({"tag": "vip"}, {a}),
        ({"reachable": "email"}, {a}),
        ({"attribute": "first_seen", "op": "within_last", "value": "P1D"}, {a}),
        ({"attribute": "user_id", "op": "starts_with", "value": "B"}, {b}),
        ({"performed": "purchase", "count": {"op": "gte", "value": 2}}, {a}),
        (
            {
                "performed": "purchase",
                "where": [{"property": "price", "op": "gt", "value": 100}],
                "count": {"op": "eq", "value": 1},
            },
            {a},
        ),
        ({"not_performed": "purchase"}, {b}),
        ({"performed": "purchase", "count": {"op": "lt", "value": 2}}, {b}),  # zero counts
        ({"any": [{"performed": "*"}, {"tag": "x"}]}, {a}),
        ({"not": {"any": [{"performed": "*"}, {"tag": "x"}]}}, {b}),
    ]
    for condition, expected in examples:
        assert _ids(alias, condition, ws) == expected, condition
    assert _ids(alias, {"performed": "purchase"}, ws, (a, b)) == {a}
    assert _ids(alias, {"not_performed": "purchase"}, ws, (a,)) == set()


def test_postgres_sql_snapshot():
    query = compile_condition(
        parse_condition(
            {"all": [{"trait": "plan", "op": "eq", "value": "pro"}, {"performed": "purchase", "within": "P30D"}]}
        ),
        dialect=Postgres(),
        scope=Scope(7),
        now=NOW,
    )
    assert query.text == (
        "SELECT p.id FROM activities_profile p LEFT JOIN (SELECT a.profile_id, count(*) AS n FROM activities_activity a"
        " WHERE a.workspace_id = %s AND a.timestamp <= %s::timestamptz AND a.timestamp >= %s::timestamptz"
        " AND a.name = %s GROUP BY a.profile_id) j0 ON j0.profile_id = p.id"
        " WHERE p.workspace_id = %s AND p.merged_into_id IS NULL"
        ' AND ((lower(((p.traits ->> %s::text))::text COLLATE "C") = %s::text'
        " AND (jsonb_typeof(p.traits -> %s::text) = 'string')) AND COALESCE(j0.n, 0) >= %s)"
    )
    assert query.params == (7, NOW, datetime(2024, 12, 11, 12, tzinfo=UTC), "purchase", 7, "plan", "pro", "plan", 1)
    # Under `not` a leaf is kept from NULL; an operand that is not plain ASCII folds with ICU.
    negated = compile_condition(
        parse_condition({"not": {"trait": "city", "op": "eq", "value": "İzmir"}}),
        dialect=Postgres(),
        scope=Scope(7),
        now=NOW,
    )
    assert "NOT (COALESCE(" in negated.text and 'COLLATE "und-x-icu"' in negated.text


def test_sqlite_sql_snapshot():
    query = compile_condition(
        parse_condition({"any": [{"trait": "plan", "op": "eq", "value": "pro"}, {"tag": "vip"}]}),
        dialect=Sqlite(),
        scope=Scope(7, (1, 2)),
        now=NOW,
    )
    assert query.text == (
        "SELECT p.id FROM activities_profile p  WHERE p.workspace_id = %s AND p.merged_into_id IS NULL"
        " AND p.id IN (SELECT value FROM json_each(%s)) AND (nudge_json_test(p.traits, %s, %s, %s)"
        " OR EXISTS (SELECT 1 FROM json_each(p.tags) t WHERE t.type = 'text' AND t.value = %s))"
    )
    assert query.params == (7, "[1,2]", '["plan"]', '{"op": "eq", "value": "pro"}', NOW.isoformat(), "vip")


def test_a_segment_that_includes_itself_is_refused():
    loop = parse_condition({"any": [{"tag": "a"}, {"in_segment": "loop"}]})
    segments = {"loop": SegmentDef(1, "rule", loop)}
    with pytest.raises(CompileError, match="includes itself"):
        compile_condition(loop, dialect=Postgres(), scope=Scope(7), now=NOW, resolve=segments.get)


def test_nested_segments_compile_in_place_and_lists_read_their_members():
    inner = parse_condition({"trait": "plan", "op": "eq", "value": "pro"})
    segments = {"pro": SegmentDef(1, "rule", inner), "vips": SegmentDef(2, "list")}
    query = compile_condition(
        parse_condition({"all": [{"in_segment": "pro"}, {"in_segment": "vips"}, {"in_segment": "gone"}]}),
        dialect=Postgres(),
        scope=Scope(7),
        now=NOW,
        resolve=segments.get,
    )
    assert f"SELECT profile_id FROM {MEMBERS} WHERE segment_id = %s" in query.text
    assert "p.traits -> %s::text" in query.text
    assert query.text.endswith("AND FALSE)")  # a segment that does not exist holds nobody
