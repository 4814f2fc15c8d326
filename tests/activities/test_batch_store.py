"""A batch's store: one statement claims its messageIds, checks the write key, looks up its ids, takes
the activities' ids, writes the evaluation batch and (when no merge can follow) locks its profiles; what
it finds is what the rest of the store builds on."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from activities.identity import identities_wanted
from activities.models import Activity, DedupeKey, EvaluationBatch, Identity, IdentityKind, Profile
from activities.segment_spec import MAX_DEPTH, nests_deeper, parse_batch, parse_message, too_deep
from activities.store import _claim_statement, messages_store
from tests.conftest import SegmentClient, round_trips
from workspaces.models import WriteKey
from workspaces.services import key_revoke


def _tracks(users: list[str], prefix: str = "m") -> list[dict]:
    return [
        {"type": "track", "userId": user, "event": "tap", "messageId": f"{prefix}{i}"} for i, user in enumerate(users)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_batch_about_known_people_is_begin_one_statement_copy_and_commit(segment: SegmentClient):
    users = [f"u{i}" for i in range(20)]
    assert segment.post("/v1/batch", {"batch": _tracks(users, "warm")}).status_code == 200  # everyone known
    assert round_trips(segment, "/v1/batch", {"batch": _tracks(users)}) == (200, 4)
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # committed
    stored = list(Activity.objects.filter(message_id__startswith="m").order_by("pk"))
    assert [a.message_id for a in stored] == [f"m{i}" for i in range(20)]  # ids follow the batch's order
    assert [a.profile.user_id for a in stored] == users
    assert EvaluationBatch.objects.filter(activity_ids=[a.pk for a in stored]).exists()


@pytest.mark.django_db
def test_a_batch_of_duplicates_writes_no_evaluation_batch(segment: SegmentClient):
    batch = {"batch": _tracks(["u1", "u2"] * 10)}
    assert segment.post("/v1/batch", batch).status_code == 200
    assert segment.post("/v1/batch", batch).status_code == 200
    assert (Activity.objects.count(), DedupeKey.objects.count(), EvaluationBatch.objects.count()) == (20, 20, 1)


@pytest.mark.django_db
def test_a_cached_write_key_revoked_refuses_every_kind_of_batch(segment: SegmentClient, acme):
    assert segment.post("/v1/batch", {"batch": _tracks(["u1"], "warm")}).status_code == 200  # the key is cached
    key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
    bodies: list[dict[str, Any]] = [
        {"batch": _tracks(["u1", "new-person"] * 6)},  # stored by the claim, which checks the key
        {"batch": [{"type": "track", "userId": "u1"}]},  # every message refused: nothing to store
        {"batch": {"not": "a list"}},  # not a batch at all
        {"batch": []},
    ]
    for body in bodies:
        response = segment.post("/v1/batch", body)
        assert response.status_code == 401, (body, response.content)
        assert response.json()["field"] == "writeKey"
    assert Activity.objects.count() == 1
    assert not Profile.objects.filter(user_id="new-person").exists()


@pytest.mark.django_db
def test_a_batch_checked_against_another_workspaces_key_stores_nothing(acme, globex):
    messages = parse_batch({"batch": _tracks(["u1"] * 12)}, received_at=timezone.now(), max_event_bytes=32768, size=0)
    other = WriteKey.objects.get(workspace=globex.workspace).key_hash
    result = messages_store(
        workspace_id=acme.workspace.pk, messages=messages.messages, received_at=timezone.now(), key_hash=other
    )
    assert not result.authorized
    assert (Activity.objects.count(), DedupeKey.objects.count(), EvaluationBatch.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
def test_a_batch_merges_and_links_the_ids_it_brings_together(segment: SegmentClient):
    segment.post("/v1/track", {"anonymousId": "device-1", "event": "browse"})  # an anonymous profile
    segment.post("/v1/identify", {"userId": "ann"})
    calls = [
        {"type": "track", "userId": "ann", "anonymousId": "device-1", "event": "login"},  # merges device-1
        {"type": "track", "userId": "ann", "anonymousId": "device-2", "event": "tap"},  # a new id joins ann
        {"type": "track", "anonymousId": "device-2", "event": "again"},
        {"type": "track", "userId": "bob", "anonymousId": "device-3", "event": "signup"},  # both new
    ]
    batch = [{**call, "messageId": f"b{i}"} for i, call in enumerate(calls * 3)]
    assert segment.post("/v1/batch", {"batch": batch}).status_code == 200
    ann, bob = Profile.objects.get(user_id="ann"), Profile.objects.get(user_id="bob")
    assert set(Profile.objects.live()) == {ann, bob}
    names = sorted(Activity.objects.filter(profile=ann).exclude(name="identify").values_list("name", flat=True))
    assert names == ["again"] * 3 + ["browse"] + ["login"] * 3 + ["tap"] * 3
    assert Activity.objects.filter(profile=bob).count() == 3
    assert Identity.objects.get(kind=IdentityKind.ANONYMOUS_ID, value="device-2").profile == ann
    assert Identity.objects.get(kind=IdentityKind.ANONYMOUS_ID, value="device-3").profile == bob


@pytest.mark.django_db
def test_a_device_shared_by_two_users_in_one_batch_merges_neither(segment: SegmentClient):
    segment.post("/v1/identify", {"userId": "mom", "anonymousId": "tablet"})
    segment.post("/v1/identify", {"userId": "kid"})
    batch = [
        {"type": "track", "userId": user, "anonymousId": "tablet", "event": "tap", "messageId": f"s{i}"}
        for i, user in enumerate(["mom", "kid"] * 6)
    ]
    assert segment.post("/v1/batch", {"batch": batch}).status_code == 200
    assert sorted(Profile.objects.live().values_list("user_id", flat=True)) == ["kid", "mom"]
    assert Activity.objects.filter(profile__user_id="kid", name="tap").count() == 6
    assert Identity.objects.get(kind=IdentityKind.ANONYMOUS_ID, value="tablet").profile.user_id == "mom"


@pytest.mark.django_db
def test_a_profile_locked_with_the_claim_is_followed_to_where_it_was_merged(acme):
    """A merge that commits while the claim waits for its lock leaves the claim's lookup pointing at the
    merged profile (its identities moved after the lookup's snapshot); the lock reads the pointer."""
    ws = acme.workspace
    live = Profile.objects.create(workspace=ws, user_id="ann")
    merged = Profile.objects.create(workspace=ws, merged_into=live)
    Identity.objects.create(workspace=ws, kind=IdentityKind.ANONYMOUS_ID, value="device-1", profile=merged)
    raw = [{"type": "track", "anonymousId": "device-1", "event": "tap", "messageId": f"f{i}"} for i in range(12)]
    parsed = parse_batch({"batch": raw}, received_at=timezone.now(), max_event_bytes=32768, size=0)
    messages_store(workspace_id=ws.pk, messages=parsed.messages, received_at=timezone.now())
    assert set(Activity.objects.values_list("profile_id", flat=True)) == {live.pk}


@pytest.mark.django_db
def test_a_profile_gone_under_the_claim_makes_the_store_resolve_again(acme):
    """An identity whose profile is gone when the claim locks it (a privacy deletion committed after the
    lookup's snapshot) fails the store with IntegrityError, which messages_store_retrying retries."""
    ws = acme.workspace
    Identity.objects.create(workspace=ws, kind=IdentityKind.USER_ID, value="gone", profile_id=2**62)  # FK deferred
    message = parse_message({"userId": "gone", "event": "y"}, call="track", received_at=timezone.now())
    with pytest.raises(IntegrityError, match="deleted concurrently"):
        messages_store(workspace_id=ws.pk, messages=[message], received_at=timezone.now())
    assert not Activity.objects.exists()
    Identity.objects.filter(value="gone").delete()  # the test's own dangling row, before the FK is checked


def test_the_lookup_knows_when_a_merge_may_follow_whatever_it_finds():
    def wanted(*raws: dict):
        return identities_wanted([parse_message(raw, call="track", received_at=timezone.now()) for raw in raws])

    plain = wanted({"userId": "a", "event": "x"}, {"userId": "a", "anonymousId": "d", "event": "x"})
    assert not plain.may_merge_blindly()
    assert plain.keys == {(IdentityKind.USER_ID, "a"), (IdentityKind.ANONYMOUS_ID, "d")}
    assert plain.pairs == [("a", "d")]
    shared_device = wanted(
        {"userId": "a", "anonymousId": "d", "event": "x"}, {"userId": "b", "anonymousId": "d", "event": "x"}
    )
    assert shared_device.may_merge_blindly()
    alias = identities_wanted(
        [parse_message({"userId": "a", "previousId": "old"}, call="alias", received_at=timezone.now())]
    )
    assert alias.may_merge_blindly() and (IdentityKind.ANONYMOUS_ID, "old") in alias.keys


def _nested(levels: int, leaf: object = 1) -> object:
    value = leaf
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("levels", [MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH + 5])
def test_a_batch_is_walked_for_depth_once_as_each_event_would_be(levels):
    events = [{"type": "track", "userId": "u", "event": "e", "properties": {"p": _nested(levels)}}]
    alone = [too_deep(event, "x") is not None for event in events]
    assert nests_deeper(events) == any(alone) == (levels + 2 > MAX_DEPTH)
    assert nests_deeper([1, "text", None, {"flat": 1}, []]) is False


@pytest.mark.django_db
def test_the_claim_probes_indexes_on_the_generic_plan_it_is_prepared_with(acme):
    """The claim is prepared once per connection and runs on a generic plan, which knows neither the
    batch nor its ids: its lookups must be index probes (a join on the batch's ids once read all of a
    workspace's identities, here two thousand of them, on that plan)."""
    ws = acme.workspace
    profiles = Profile.objects.bulk_create([Profile(workspace=ws, user_id=f"u{i}") for i in range(2000)])
    Identity.objects.bulk_create(
        [Identity(workspace=ws, kind=IdentityKind.USER_ID, value=f"u{i}", profile=p) for i, p in enumerate(profiles)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_identity")
    statement = _claim_statement(connection)
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)[sb]", statement)))
    positional = re.sub(r"%\((\w+)\)[sb]", lambda match: f"${names.index(match.group(1)) + 1}", statement)
    params = {
        "key_hash": "h",
        "ws": acme.workspace.pk,
        "received_at": timezone.now(),
        "message_ids": ["m1"],
        "kinds": ["user_id"],
        "values": ["u1"],
        "share": True,
        "pair_users": [],
        "pair_anonymous": [],
        "evaluate": True,
    }
    connection.ensure_connection()
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE nudge_claim_plan AS {positional}")
        placeholders = ", ".join(["%s"] * len(names))
        cursor.execute(f"EXPLAIN EXECUTE nudge_claim_plan({placeholders})", [params[name] for name in names])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE nudge_claim_plan")
    assert "Index Scan using identity_unique on activities_identity" in plan, plan
    assert "activities_profile_pkey" in plan, plan
    assert "Seq Scan" not in plan and "activities_identity_workspace_id" not in plan, plan
