"""The backtest: a draft replayed on the engine over the stored activities of the last days, counting
who would have entered, each path taken, the messages and the conversions — on the workers, in
committed chunks (a run that stops resumes without counting twice), with nothing stored or sent."""

from __future__ import annotations

import uuid
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core import mail
from django.db import OperationalError

from activities.models import Activity, Profile
from journeys import backtest as backtest_module
from journeys.backtest import BacktestRefused, backtest_counts, backtest_latest, backtest_start, backtests_run
from journeys.document import DocumentError
from journeys.examples import DISCOUNTS
from journeys.models import Journey, JourneyBacktest
from journeys.services import journey_create
from segments.conditions import as_datetime
from tests.conftest import wait_until
from tests.personas import Tenant
from workspaces.models import Role

pytestmark = pytest.mark.django_db

NOW = as_datetime("2025-03-01T12:00:00Z")
assert NOW is not None

# Branches (a trait; a purchase in the last 30 days, history from before the window), a split whose
# every profile takes its second arm, an update_profile, a webhook, an exit node.
FLOW: dict[str, Any] = {
    "name": "Signup flow",
    "entry": {"type": "event", "event": "signup"},
    "start": "pick",
    "nodes": {
        "pick": {
            "type": "branch",
            "branches": [
                {"if": {"trait": "plan", "op": "eq", "value": "pro"}, "next": "tag"},
                {"if": {"performed": "purchase", "within": "P30D"}, "next": "hook"},
            ],
            "else": "ab",
        },
        "tag": {"type": "update_profile", "traits": {"plan": "vip"}, "add_tags": ["pro"], "next": "bye"},
        "bye": {"type": "exit"},
        "hook": {"type": "webhook", "url": "https://example.com/hook", "next": None},
        "ab": {
            "type": "split",
            "arms": [{"name": "a", "percent": 0, "next": None}, {"name": "b", "percent": 100, "next": "mail"}],
        },
        "mail": {"type": "send", "channel": "email", "template": "welcome", "next": None},
    },
}


def ago(days: float) -> datetime:
    assert NOW is not None
    return NOW - timedelta(days=days)


def person(tenant: Tenant, user_id: str, **traits: Any) -> Profile:
    return Profile.objects.create(workspace=tenant.workspace, user_id=user_id, traits=traits)


def did(profile: Profile, name: str, when: datetime, **properties: Any) -> None:
    Activity.objects.create(
        workspace_id=profile.workspace_id,
        profile=profile,
        name=name,
        type="track",
        properties=properties,
        timestamp=when,
        received_at=when,
        message_id=str(uuid.uuid4()),
    )


def discounts_history(tenant: Tenant) -> None:
    """Eight people's last ten days, against PRODUCT.md §8.1's journey (enter on a Discounts screen, wait
    3 days for a favorite: sms if so, push if not; converted by a purchase over 100 within 30 days,
    leaving at once; a month's lock between entries)."""
    ann = person(tenant, "ann")  # favorites: sms; buys for 150 after her path ended: converted
    did(ann, "screen_view", ago(6), screen_name="Spring Discounts")
    did(ann, "add_to_favorites", ago(5))
    did(ann, "page_viewed", ago(4.5))  # not a name the journey reacts to
    did(ann, "purchase", ago(4), price=150)
    bob = person(tenant, "bob")  # nothing for 3 days: push at ago(3)
    did(bob, "screen_view", ago(6), screen_name="Discounts")
    cat = person(tenant, "cat")  # still waiting at the end (her timeout is a day after it)
    did(cat, "screen_view", ago(2), screen_name="Winter Discounts")
    dan = person(tenant, "dan")  # the wrong screen: refused by the filters
    did(dan, "screen_view", ago(3), screen_name="Home")
    eve = person(tenant, "eve")  # again while inside (active), converts while waiting, again (lock)
    did(eve, "screen_view", ago(6), screen_name="Discounts")
    did(eve, "screen_view", ago(5.5), screen_name="Discounts")
    did(eve, "purchase", ago(5), price=200)
    did(eve, "screen_view", ago(1), screen_name="Discounts")
    fay = person(tenant, "fay")  # her Discounts screen is before the window
    did(fay, "screen_view", ago(10), screen_name="Discounts")
    did(fay, "add_to_favorites", ago(2))
    gus = person(tenant, "gus")  # a purchase, never a trigger
    did(gus, "purchase", ago(2), price=500)
    hal = person(tenant, "hal")  # favorites: sms; buys for 80 only: not converted
    did(hal, "screen_view", ago(4), screen_name="Discounts")
    did(hal, "add_to_favorites", ago(2))  # inside his wait (at ago(1) exactly, it would have timed out)
    did(hal, "purchase", ago(0.5), price=80)


EXPECTED_DISCOUNTS = {
    "activities": 13,  # ann 3, bob 1, cat 1, dan 1, eve 4, hal 3 (the page view not a name it reads)
    "entered": 5,  # ann, bob, cat, eve, hal
    "profiles": 5,
    "converted": 2,  # ann (after her path), eve (while waiting)
    "waiting": 1,  # cat
    "exits": {"completed": 3, "converted": 1},
    "refusals": {"filters": 1, "active": 1, "lock": 1},
    "nodes": {
        "fav": {"entered": 5, "waiting": 1},
        "thanks": {"entered": 2, "waiting": 0},
        "nudge": {"entered": 1, "waiting": 0},
    },
    "edges": {
        "trigger:start": 5,
        "fav:on_performed": 2,  # ann, hal
        "fav:on_timeout": 1,  # bob
        "thanks:next": 2,
        "nudge:next": 1,
    },
    "messaged": {"total": 3, "nodes": {"thanks": 2, "nudge": 1}, "channels": {"sms": 2, "push": 1}},
    "webhooks": {"total": 0, "nodes": {}},
}


def draft(tenant: Tenant, document: dict[str, Any]) -> Journey:
    return journey_create(workspace=tenant.workspace, actor=tenant.owner, document=deepcopy(document))


def started(tenant: Tenant, document: dict[str, Any], days: int = 7) -> JourneyBacktest:
    with time_machine.travel(NOW, tick=False):
        return backtest_start(journey=draft(tenant, document), actor=tenant.owner, days=days)


def finished(backtest: JourneyBacktest) -> JourneyBacktest:
    backtests_run()
    backtest.refresh_from_db()
    assert backtest.status == JourneyBacktest.Status.DONE, backtest.error
    return backtest


def stored_rows() -> dict[str, int]:
    """Every table of the apps a journey could write to, but the backtests'."""
    return {
        model._meta.label: model.objects.count()
        for label in ("activities", "journeys", "messaging", "segments", "behaviors")
        for model in apps.get_app_config(label).get_models()
        if model is not JourneyBacktest
    }


def test_the_discounts_journey_over_a_week_counts_every_path(acme, globex):
    discounts_history(acme)
    discounts_history(globex)  # another workspace's people are not replayed
    backtest = finished(started(acme, DISCOUNTS))
    assert backtest.result == EXPECTED_DISCOUNTS
    assert (backtest.since, backtest.until, backtest.days) == (ago(7), NOW, 7)
    assert (backtest.profiles_total, backtest.profiles_done, backtest.activities_done) == (6, 6, 13)
    assert backtest.progress == 1.0 and backtest.started_at is not None and backtest.finished_at is not None


def test_a_longer_window_reaches_further_back(acme):
    discounts_history(acme)
    backtest = finished(started(acme, DISCOUNTS, days=12))
    # fay's Discounts screen (ago 10) enters; her favorite at ago(2) is after her 3-day wait timed out
    assert backtest.result["entered"] == 6
    assert backtest.result["edges"]["fav:on_timeout"] == 2


def test_branches_splits_and_history_from_before_the_window(acme):
    pia = person(acme, "pia", plan="pro")  # first branch: update_profile, then the exit node
    did(pia, "signup", ago(2))
    quin = person(acme, "quin")  # a purchase 20 days ago: second branch, the webhook
    did(quin, "purchase", ago(20))
    did(quin, "signup", ago(1))
    for name in ("rui", "sam"):  # else: the split, whose second arm takes everyone, to the email
        someone = person(acme, name)
        did(someone, "signup", ago(1))
    did(Profile.objects.get(user_id="sam"), "purchase", ago(40))  # too long ago for "within 30 days"
    result = finished(started(acme, FLOW)).result
    assert result["edges"] == {
        "trigger:start": 4,
        "pick:branches[0]": 1,
        "pick:branches[1]": 1,
        "pick:else": 2,
        "tag:next": 1,
        "hook:next": 1,
        "ab:arms[0]": 0,
        "ab:arms[1]": 2,
        "mail:next": 2,
    }
    assert {node: counts["entered"] for node, counts in result["nodes"].items()} == {
        "pick": 4,
        "tag": 1,
        "bye": 1,
        "hook": 1,
        "ab": 2,
        "mail": 2,
    }
    assert result["messaged"] == {"total": 2, "nodes": {"mail": 2}, "channels": {"email": 2}}
    assert result["webhooks"] == {"total": 1, "nodes": {"hook": 1}}
    assert (result["entered"], result["exits"], result["converted"], result["activities"]) == (
        4,
        {"completed": 4},
        0,
        4,
    )
    pia.refresh_from_db()
    assert (pia.traits, pia.tags) == ({"plan": "pro"}, [])  # the update_profile step ran in memory only


def test_nothing_is_stored_or_sent(acme):
    discounts_history(acme)
    pia = person(acme, "pia", plan="pro")
    did(pia, "signup", ago(2))
    before = stored_rows()
    for document in (DISCOUNTS, FLOW):
        finished(started(acme, document))
    assert stored_rows() == {**before, "journeys.Journey": before["journeys.Journey"] + 2}  # the two drafts
    assert mail.outbox == []


def test_chunks_commit_progress(acme, monkeypatch):
    discounts_history(acme)
    monkeypatch.setattr(backtest_module, "BATCH", 2)
    backtest = started(acme, DISCOUNTS)
    assert (backtest.status, backtest.progress) == ("queued", 0.0)
    seen = []
    for _ in range(4):
        backtest_module._chunk(backtest.pk)
        backtest.refresh_from_db()
        seen.append((backtest.status, backtest.profiles_done, round(backtest.progress, 2), backtest.result["entered"]))
    # ann+bob, cat+dan, eve+hal, then an empty chunk says it is done
    assert seen == [("running", 2, 0.33, 2), ("running", 4, 0.67, 3), ("running", 6, 1.0, 5), ("done", 6, 1.0, 5)]
    assert backtest.result == EXPECTED_DISCOUNTS
    assert backtest_module._chunk(backtest.pk) is None  # done: nothing more to do


def test_a_run_that_dies_mid_chunk_resumes_without_counting_twice(acme, monkeypatch):
    discounts_history(acme)
    monkeypatch.setattr(backtest_module, "BATCH", 2)
    backtest = started(acme, DISCOUNTS)
    replay_chunk, calls = backtest_module._replay, []

    def dies_on_the_second_chunk(*args: Any) -> Any:
        calls.append(args[2])
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")  # the worker is gone
        return replay_chunk(*args)

    monkeypatch.setattr(backtest_module, "_replay", dies_on_the_second_chunk)
    with pytest.raises(OperationalError):
        backtests_run()
    backtest.refresh_from_db()
    assert (backtest.status, backtest.profiles_done, backtest.result["entered"]) == ("running", 2, 2)
    backtests_run()  # the periodic task picks it up where the last commit left it
    backtest.refresh_from_db()
    assert backtest.status == "done" and backtest.result == EXPECTED_DISCOUNTS
    assert calls[1] == calls[2]  # the chunk that died was done again, once


def test_a_replay_that_raises_fails_with_the_reason(acme, monkeypatch):
    discounts_history(acme)

    def broken(*args: Any) -> Any:
        raise RuntimeError("journey 'x' ran 500 steps without resting")

    monkeypatch.setattr(backtest_module, "_replay", broken)
    backtest = started(acme, DISCOUNTS)
    backtests_run()
    backtest.refresh_from_db()
    assert backtest.status == "failed" and "500 steps" in backtest.error and backtest.finished_at is not None


def test_start_refuses_bad_days_and_invalid_drafts_and_answers_the_running_one(acme):
    journey = draft(acme, DISCOUNTS)
    for days in (0, 31, "7", True, None):
        with pytest.raises(BacktestRefused, match="days"):
            backtest_start(journey=journey, actor=acme.owner, days=days)
    broken = draft(acme, {**DISCOUNTS, "start": "nowhere", "audience": {"segments": ["vips"]}})
    with pytest.raises(DocumentError) as problems:
        backtest_start(journey=broken, actor=acme.owner)
    assert {p.field for p in problems.value.problems} == {"start"}
    unknown = draft(acme, {**DISCOUNTS, "audience": {"segments": ["vips"]}})
    with pytest.raises(DocumentError, match="no segment 'vips'"):
        backtest_start(journey=unknown, actor=acme.owner)
    first = backtest_start(journey=journey, actor=acme.owner)
    assert backtest_start(journey=journey, actor=acme.owner).pk == first.pk  # the one running
    journey.draft = {**DISCOUNTS, "name": "Changed"}
    journey.save(update_fields=["draft"])
    with pytest.raises(BacktestRefused, match="earlier draft") as refused:
        backtest_start(journey=journey, actor=acme.owner)
    assert refused.value.conflict
    finished(first)
    assert backtest_start(journey=journey, actor=acme.owner).pk != first.pk
    assert backtest_latest(journey) == JourneyBacktest.objects.get(journey=journey, status="queued")


def test_counts_for_the_flow_drawing(acme):
    discounts_history(acme)
    nodes, edges = backtest_counts(finished(started(acme, DISCOUNTS)).result)
    assert nodes == {
        "fav": {"entered": 5, "waiting": 1, "messaged": 0},
        "thanks": {"entered": 2, "waiting": 0, "messaged": 2},
        "nudge": {"entered": 1, "waiting": 0, "messaged": 1},
    }
    assert edges == {
        ("trigger", "start"): 5,
        ("fav", "on_performed"): 2,
        ("fav", "on_timeout"): 1,
        ("thanks", "next"): 2,
        ("nudge", "next"): 1,
    }
    assert backtest_counts({}) == ({}, {})


# --- The API ---------------------------------------------------------------------------------------


def api(client, tenant, method, path, body=None, role=Role.MARKETER):
    return getattr(client, method)(
        f"/api/v1/journeys/{path}", data=body, content_type="application/json", **tenant.auth(role)
    )


def test_api_starts_reads_and_lists(client, acme):
    discounts_history(acme)
    journey = draft(acme, DISCOUNTS)
    with time_machine.travel(NOW, tick=False):
        asked = api(client, acme, "post", f"{journey.pk}/backtest")
    assert asked.status_code == 202, asked.content
    body = asked.json()
    assert (body["status"], body["days"], body["progress"], body["requested_by"]) == (
        "queued",
        7,
        0.0,
        "marketer@acme.test",
    )
    assert api(client, acme, "post", f"{journey.pk}/backtest", {"days": 7}).json()["id"] == body["id"]
    backtests_run()
    read = api(client, acme, "get", f"{journey.pk}/backtests/{body['id']}", role=Role.ANALYST)
    assert read.status_code == 200
    assert (read.json()["status"], read.json()["progress"], read.json()["result"]) == ("done", 1.0, EXPECTED_DISCOUNTS)
    again = api(client, acme, "post", f"{journey.pk}/backtest", {"days": 3})
    assert again.status_code == 202 and again.json()["id"] != body["id"]
    listed = api(client, acme, "get", f"{journey.pk}/backtests", role=Role.ANALYST).json()
    assert [(b["id"], b["days"]) for b in listed["results"]] == [(again.json()["id"], 3), (body["id"], 7)]


def test_api_names_the_problem(client, acme):
    journey = draft(acme, DISCOUNTS)
    for days in (0, 31, "seven", 2.5, None):
        answer = api(client, acme, "post", f"{journey.pk}/backtest", {"days": days})
        assert answer.status_code == 400 and "days" in answer.json(), (days, answer.content)
    assert api(client, acme, "post", f"{journey.pk}/backtest", [1, 2]).status_code == 400
    fav = {**DISCOUNTS["nodes"]["fav"], "on_timeout": "gone"}
    broken = draft(acme, {**DISCOUNTS, "reentry": {"mode": "twice"}, "nodes": {**DISCOUNTS["nodes"], "fav": fav}})
    answer = api(client, acme, "post", f"{broken.pk}/backtest")
    assert answer.status_code == 400
    assert {p["field"] for p in answer.json()["journey"]} == {"reentry.mode", "nodes.fav.on_timeout", "nodes.nudge"}
    api(client, acme, "post", f"{journey.pk}/backtest")
    journey.draft = {**DISCOUNTS, "name": "Changed"}
    journey.save(update_fields=["draft"])
    assert api(client, acme, "post", f"{journey.pk}/backtest").status_code == 409
    for missing in ("99999999999999999", "9" * 30):  # the second beyond 64 bits
        assert api(client, acme, "get", f"{journey.pk}/backtests/{missing}", role=Role.ANALYST).status_code == 404
    assert JourneyBacktest.objects.count() == 1


def test_api_roles_and_workspaces(client, acme, globex):
    ours, theirs = draft(acme, DISCOUNTS), draft(globex, DISCOUNTS)
    assert api(client, acme, "post", f"{ours.pk}/backtest", role=Role.ANALYST).status_code == 403
    mine = api(client, acme, "post", f"{ours.pk}/backtest", role=Role.MARKETER).json()["id"]
    foreign = api(client, globex, "post", f"{theirs.pk}/backtest").json()["id"]
    assert api(client, acme, "post", f"{theirs.pk}/backtest").status_code == 404
    assert api(client, acme, "get", f"{theirs.pk}/backtests", role=Role.ANALYST).status_code == 404
    assert api(client, acme, "get", f"{theirs.pk}/backtests/{foreign}", role=Role.ANALYST).status_code == 404
    assert api(client, acme, "get", f"{ours.pk}/backtests/{foreign}", role=Role.ANALYST).status_code == 404
    assert api(client, acme, "get", f"{ours.pk}/backtests/{mine}", role=Role.ANALYST).status_code == 200
    assert api(client, acme, "get", f"{ours.pk}/backtests", role=Role.ANALYST).json()["count"] == 1


def test_a_real_worker_runs_the_backtest_it_is_handed(acme, celery_worker_process):
    discounts_history(acme)
    journey = draft(acme, DISCOUNTS)
    with time_machine.travel(NOW, tick=False):
        backtest = backtest_start(journey=journey, actor=acme.owner)  # committed: enqueued on commit
    wait_until(lambda: JourneyBacktest.objects.get(pk=backtest.pk).status == "done", timeout=60)
    backtest.refresh_from_db()
    assert backtest.result == EXPECTED_DISCOUNTS
