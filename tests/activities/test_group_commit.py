"""Group commit: concurrent requests share a transaction, each is answered only after its commit, and
a request that fails cannot take its neighbours down with it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest

from activities.group_commit import GroupCommitter, _Job
from activities.models import Activity, EvaluationBatch
from activities.segment_spec import Message
from tests.conftest import basic_auth

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def message(name: str, message_id: str, user_id: str = "u") -> Message:
    return Message(type="track", name=name, message_id=message_id, timestamp=NOW, user_id=user_id)


def test_jobs_of_one_workspace_are_stored_in_one_transaction(acme):
    jobs = [_Job(acme.workspace.pk, [message("tap", f"m{i}", f"user-{i}")], NOW) for i in range(5)]
    GroupCommitter()._commit(jobs)
    assert all(job.error is None for job in jobs)
    assert Activity.objects.count() == 5
    (batch,) = EvaluationBatch.objects.all()  # one transaction, one pipeline batch
    assert len(batch.activity_ids) == 5


def test_a_failing_request_is_isolated_from_its_group(acme, globex):
    good = _Job(acme.workspace.pk, [message("tap", "good")], NOW)
    # Validation normally stops this; here it stands for any request the database refuses.
    bad = _Job(acme.workspace.pk, [message("x" * 300, "bad")], NOW)
    other = _Job(globex.workspace.pk, [message("tap", "other")], NOW)
    GroupCommitter()._commit([good, bad, other])
    assert good.error is None and other.error is None
    assert bad.error is not None and not bad.error.unreachable
    assert sorted(Activity.objects.values_list("message_id", flat=True)) == ["good", "other"]


def test_store_waits_for_the_commit_through_the_writer_thread(acme):
    committer = GroupCommitter()
    try:
        committer.store(workspace_id=acme.workspace.pk, messages=[message("tap", "via-thread")], received_at=NOW)
        assert Activity.objects.filter(message_id="via-thread").exists()
    finally:
        committer.stop()


@pytest.mark.slow
def test_concurrent_requests_to_a_threaded_server_all_land_once(live_nudge: str, acme):
    statuses: list[int] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=live_nudge, headers={"Authorization": basic_auth(acme.write_key)}) as http:
            for n in range(25):
                body = {"userId": f"user-{index}", "event": "tap", "messageId": f"c{index}-{n}"}
                statuses.append(http.post("/v1/track", json=body).status_code)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 300
    assert Activity.objects.count() == 300
    assert Activity.objects.values("message_id").distinct().count() == 300
