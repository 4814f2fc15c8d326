"""The lean path of the single-call endpoints: one committed statement for a call about someone known,
the write key refused the moment it is revoked (in every web process), a dead kept connection replaced
instead of answered with a 503, the rate limit told to Redis in steps, and the pipeline's batches handed
out and evaluated several at a time."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import httpx
import orjson
import psycopg
import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from activities import ingest_rate, pipeline
from activities.models import Activity, DedupeKey, EvaluationBatch, Profile, TrackedActivity
from activities.segment_spec import parse_message
from activities.store import message_store_single
from tests.conftest import SegmentClient, basic_auth, round_trips, wait_until
from workspaces.keys import key_hash
from workspaces.models import WriteKey
from workspaces.services import key_revoke


@pytest.mark.django_db(transaction=True)
def test_a_call_about_someone_known_is_one_committed_statement(segment: SegmentClient, acme):
    assert segment.post("/v1/identify", {"userId": "ann", "traits": {"plan": "pro"}}).status_code == 200
    assert segment.post("/v1/track", {"userId": "ann", "event": "warm"}).status_code == 200
    for path, body in (
        ("/v1/track", {"userId": "ann", "event": "tap", "messageId": "t1", "properties": {"n": 1}}),
        ("/v1/page", {"userId": "ann", "name": "Home", "messageId": "p1"}),
        ("/v1/screen", {"userId": "ann", "name": "Cart", "messageId": "s1"}),
        ("/v1/group", {"userId": "ann", "groupId": "g1", "messageId": "g1"}),
        ("/v1/identify", {"userId": "ann", "messageId": "i1"}),  # no traits: nothing to change
        ("/v1/track", {"userId": "ann", "event": "tap", "messageId": "t1"}),  # a duplicate
    ):
        assert round_trips(segment, path, body) == (200, 1), path
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # committed
    assert Activity.objects.filter(message_id__in=["t1", "p1", "s1", "g1", "i1"]).count() == 5
    ann = Profile.objects.get(user_id="ann")
    track = Activity.objects.get(message_id="t1")
    assert (track.profile_id, track.name, track.type, track.properties) == (ann.pk, "tap", "track", {"n": 1})
    assert DedupeKey.objects.filter(message_id="t1").count() == 1
    assert EvaluationBatch.objects.filter(activity_ids=[track.pk]).exists()


@pytest.mark.django_db
class TestWhatTheLeanPathLeavesToTheGeneralOne:
    def _store(self, acme, raw: dict, *, key: str | None = None):
        message = parse_message(raw, call="track", received_at=timezone.now())
        return message_store_single(
            key_hash=key_hash(key or acme.write_key),
            workspace_id=acme.workspace.pk,
            message=message,
            received_at=timezone.now(),
        )

    def test_a_new_person_a_merge_or_a_profile_change_writes_nothing(self, segment: SegmentClient, acme):
        segment.post("/v1/identify", {"userId": "ann", "context": {"timezone": "Europe/Istanbul"}})
        segment.post("/v1/track", {"anonymousId": "device-1", "event": "browse"})
        before = (Activity.objects.count(), DedupeKey.objects.count(), EvaluationBatch.objects.count())
        assert not self._store(acme, {"userId": "bob", "event": "x"}).handled  # unknown
        assert not self._store(acme, {"userId": "ann", "anonymousId": "device-1", "event": "x"}).handled  # merge
        assert not self._store(acme, {"userId": "ann", "anonymousId": "device-2", "event": "x"}).handled  # new id
        assert not self._store(acme, {"userId": "ann", "event": "x", "context": {"timezone": "UTC"}}).handled
        assert not self._store(acme, {"userId": "ann", "event": "x", "context": {"locale": "tr-TR"}}).handled
        assert (Activity.objects.count(), DedupeKey.objects.count(), EvaluationBatch.objects.count()) == before

    def test_a_known_timezone_a_merged_anonymous_id_and_a_duplicate_are_handled(self, segment: SegmentClient, acme):
        segment.post("/v1/identify", {"userId": "ann", "context": {"timezone": "Europe/Istanbul"}})
        segment.post("/v1/track", {"userId": "ann", "anonymousId": "device-1", "event": "login"})
        same = {
            "userId": "ann",
            "anonymousId": "device-1",
            "event": "x",
            "messageId": "m1",
            "context": {"timezone": "Europe/Istanbul"},
        }
        stored = self._store(acme, same)
        assert stored.handled and stored.activity_id is not None
        again = self._store(acme, same)
        assert again.handled and again.activity_id is None  # already stored: nothing new
        assert Activity.objects.filter(message_id="m1").count() == 1

    def test_a_revoked_key_writes_nothing(self, segment: SegmentClient, acme):
        segment.post("/v1/identify", {"userId": "ann"})
        key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
        result = self._store(acme, {"userId": "ann", "event": "x", "messageId": "late"})
        assert (result.authorized, result.handled) == (False, False)
        assert not DedupeKey.objects.filter(message_id="late").exists()


@pytest.mark.django_db
def test_a_known_merged_anonymous_id_stays_with_its_person(segment: SegmentClient):
    segment.post("/v1/track", {"anonymousId": "device-1", "event": "browse"})
    segment.post("/v1/identify", {"userId": "ann", "anonymousId": "device-1"})  # the device joins ann
    assert segment.post("/v1/track", {"anonymousId": "device-1", "event": "again"}).status_code == 200
    assert Activity.objects.get(name="again").profile.user_id == "ann"


@pytest.mark.django_db
def test_a_cached_write_key_is_refused_the_moment_it_is_revoked(segment: SegmentClient, acme, settings):
    assert segment.post("/v1/track", {"userId": "u", "event": "x"}).status_code == 200  # the key is cached now
    key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
    for path, body in (
        ("/v1/track", {"userId": "u", "event": "x"}),  # the lean path
        ("/v1/identify", {"userId": "u", "traits": {"plan": "pro"}}),  # the general path
        ("/v1/track", {"userId": "u"}),  # a bad call: 401 still comes first, as before
    ):
        response = segment.post(path, body)
        assert response.status_code == 401, (path, response.content)
        assert response.json()["field"] == "writeKey"
    assert Activity.objects.count() == 1


@pytest.mark.django_db
def test_a_revoked_key_past_its_rate_is_told_it_is_revoked(segment: SegmentClient, acme, settings):
    settings.NUDGE_INGEST_RATE_PER_SECOND = 1
    settings.NUDGE_INGEST_BURST_SECONDS = 1
    with time_machine.travel(datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC), tick=False):
        assert segment.post("/v1/track", {"userId": "u", "event": "x"}).status_code == 200
        key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
        assert segment.post("/v1/track", {"userId": "u", "event": "x"}).status_code == 401


@pytest.mark.slow
def test_revocation_reaches_every_web_process_at_once(live_nudge: str, acme):
    headers = {"Authorization": basic_auth(acme.write_key)}
    with httpx.Client(base_url=live_nudge, headers=headers) as warm:
        assert warm.post("/v1/identify", json={"userId": "ann"}).status_code == 200
    for _ in range(20):  # new connections, spread over both workers: every one caches the key
        assert httpx.post(f"{live_nudge}/v1/track", json={"userId": "ann", "event": "x"}, headers=headers).is_success
    key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
    answers = [
        httpx.post(f"{live_nudge}/v1/track", json={"userId": "ann", "event": "late"}, headers=headers).status_code
        for _ in range(20)
    ]
    assert answers == [401] * 20
    assert not Activity.objects.filter(name="late").exists()


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_that_died_is_replaced_not_answered_with_503(segment: SegmentClient):
    assert segment.post("/v1/identify", {"userId": "ann"}).status_code == 200
    assert segment.post("/v1/track", {"userId": "ann", "event": "warm"}).status_code == 200
    pid = connection.connection.info.backend_pid
    dsn = connection.settings_dict
    with psycopg.connect(
        host=dsn["HOST"], port=dsn["PORT"], user=dsn["USER"], dbname=dsn["NAME"], autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    response = segment.post("/v1/track", {"userId": "ann", "event": "after", "messageId": "after-1"})
    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != pid
    assert Activity.objects.filter(message_id="after-1").count() == 1


@pytest.mark.django_db
def test_the_ingestion_route_checks_the_host_and_answers_with_a_length(segment: SegmentClient):
    refused = segment.post("/v1/track", {"userId": "u", "event": "x"}, HTTP_HOST="evil.example")
    assert refused.status_code == 400
    answered = segment.post("/v1/track", {"userId": "u", "event": "x"})
    assert answered["Content-Length"] == str(len(answered.content))
    assert answered["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs before it
    assert Client().get("/v1/track").status_code == 405


class TestTheRateLimitToldInSteps:
    """Against the test broker's Redis, as the limiter is in production."""

    def _redis_count(self, key: str, window: int) -> int:
        name = f"nudge:rate:{key}:{int(time.time() // window)}"
        return int(redis.Redis.from_url(settings.CELERY_BROKER_URL).get(name) or 0)

    def test_one_process_is_exact_and_tells_redis_every_step(self):
        key = f"test-steps-{time.time_ns()}"
        with time_machine.travel(datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC), tick=False):
            answers = [ingest_rate.hit(key, limit=1000, window=10) for _ in range(1000)]
            assert answers == [None] * 1000
            assert ingest_rate.hit(key, limit=1000, window=10) is not None  # the 1,001st
            told = self._redis_count(key, 10)
        assert 1001 - 10 <= told <= 1001  # every tenth request (1 % of the limit) at most is still here

    def test_processes_share_the_count_within_their_steps(self):
        key = f"test-shared-{time.time_ns()}"
        passed = 0
        with time_machine.travel(datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC), tick=False):
            for _ in range(150):
                passed += ingest_rate.hit(key, limit=200, window=10) is None
            ingest_rate._windows.pop(key)  # another process: it knows only what Redis knows
            for _ in range(150):
                passed += ingest_rate.hit(key, limit=200, window=10) is None
        assert 200 <= passed <= 200 + 2 * 2  # at most one step (1 % of 200) over, per process


@pytest.mark.django_db
def test_batches_are_evaluated_several_at_a_time_each_workspace_apart(acme, globex, client):
    SegmentClient(client, acme.write_key).post(
        "/v1/batch", {"batch": [{"type": "track", "userId": "a", "event": "buy"}]}
    )
    SegmentClient(client, acme.write_key).post("/v1/track", {"userId": "b", "event": "buy"})
    SegmentClient(client, globex.write_key).post("/v1/track", {"userId": "c", "event": "buy"})
    ids = list(EvaluationBatch.objects.values_list("pk", flat=True))
    assert len(ids) == 3
    assert pipeline.batches_process([*ids, 10**9]) == 3  # an id already done (or never made) is skipped
    assert pipeline.batches_process(ids) == 0
    assert not EvaluationBatch.objects.exists()
    assert TrackedActivity.objects.get(workspace=acme.workspace, name="buy").count == 2
    assert TrackedActivity.objects.get(workspace=globex.workspace, name="buy").count == 1


def test_a_web_process_hands_many_batches_to_the_workers_in_few_tasks():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    publisher = pipeline._Publisher()
    ids = list(range(10**12, 10**12 + 40))  # apart from any batch another test's request handed out
    for batch_id in ids:
        publisher.add(batch_id)
    wait_until(lambda: broker.llen("celery") > 0 and not publisher._pending, timeout=10)
    time.sleep(2 * publisher.LINGER_SECONDS)
    tasks = [orjson.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    tasks = [task for task in tasks if task["headers"]["task"] == "activities.process_batches"]
    handed = [batch_id for task in tasks for batch_id in orjson.loads(base64.b64decode(task["body"]))[0][0]]
    handed = [batch_id for batch_id in handed if batch_id >= ids[0]]
    assert sorted(handed) == ids  # each once
    assert len(tasks) < 40
    broker.delete("celery")


@pytest.mark.slow
def test_single_calls_reach_a_real_worker_a_few_batches_a_task(live_nudge: str, acme, celery_worker_process):
    headers = {"Authorization": basic_auth(acme.write_key)}
    with httpx.Client(base_url=live_nudge, headers=headers) as sdk:
        assert sdk.post("/v1/identify", json={"userId": "ann"}).status_code == 200
        for i in range(30):
            assert sdk.post("/v1/track", json={"userId": "ann", "event": "tap", "messageId": f"tap-{i}"}).is_success
    wait_until(lambda: not EvaluationBatch.objects.exists())
    assert TrackedActivity.objects.get(workspace=acme.workspace, name="tap").count == 30
    assert Activity.objects.filter(name="tap").count() == 30


@pytest.mark.django_db
@pytest.mark.parametrize("broken", [ValueError("I/O operation on closed file."), OSError(9, "Bad file descriptor")])
def test_a_redis_connection_broken_under_the_rate_count_lets_the_call_through(
    segment: SegmentClient, monkeypatch, broken: Exception
):
    """A reset found while the rate limit's Redis connection is read surfaces from redis-py as the OS's
    error or a ValueError of its closed buffer, not as a RedisError; the call is stored all the same."""

    def execute(self, *args, **kwargs):
        raise broken

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    ingest_rate._windows.clear()  # the next count goes to Redis
    event = {"type": "track", "userId": "rita", "event": "rate_store_broken"}
    assert segment.post("/v1/batch", {"batch": [event]}).status_code == 200
    assert segment.post("/v1/track", {"userId": "rita", "event": "rate_store_broken"}).status_code == 200
    assert Activity.objects.filter(name="rate_store_broken").count() == 2
