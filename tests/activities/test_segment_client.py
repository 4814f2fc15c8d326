"""The real segment-analytics-python client against a real gunicorn server: every call lands once,
on the right profile, with the device's clock skew corrected; re-sent messageIds store nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from segment.analytics import Client

from activities.models import Activity, Profile

pytestmark = pytest.mark.slow

SKEW = timedelta(hours=2)  # the device's clock runs two hours fast


def send_story(client: Client, device_now: datetime, run: str) -> None:
    """25 tracks, and one of every other call, stamped by a device whose clock is SKEW ahead."""
    for i in range(25):
        client.track(
            user_id=f"user-{i % 5}",
            event="tap",
            properties={"n": i, "run": run},
            timestamp=device_now - timedelta(minutes=10),
            message_id=f"{run}-track-{i}",
        )
    client.identify(
        user_id="user-0",
        traits={"email": "zero@x.test", "plan": "pro"},
        timestamp=device_now - timedelta(minutes=9),
        message_id=f"{run}-identify",
    )
    client.page(
        user_id="user-1",
        name="Pricing",
        properties={"url": "https://shop.test/pricing"},
        timestamp=device_now - timedelta(minutes=8),
        message_id=f"{run}-page",
    )
    client.screen(
        user_id="user-2",
        name="Spring Discounts",
        timestamp=device_now - timedelta(minutes=7),
        message_id=f"{run}-screen",
    )
    client.track(
        anonymous_id="device-9", event="browse", timestamp=device_now - timedelta(minutes=6), message_id=f"{run}-anon"
    )
    client.alias(
        previous_id="device-9", user_id="user-3", timestamp=device_now - timedelta(minutes=5), message_id=f"{run}-alias"
    )


def sdk(write_key: str, host: str, gzip: bool, errors: list[Exception]) -> Client:
    """The real client, batching 10 calls a request, collecting what it reports as failed."""
    return Client(
        write_key,
        host=host,
        gzip=gzip,
        upload_size=10,
        max_retries=3,
        on_error=lambda error, batch: errors.append(error),
    )


def flush(client: Client) -> None:
    client.flush()
    client.join()


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_sdk_batches_land_once_with_skew_corrected(live_nudge: str, acme, gzip: bool):
    errors: list[Exception] = []
    real_now = datetime.now(UTC)
    with time_machine.travel(real_now + SKEW, tick=True):
        client = sdk(acme.write_key, live_nudge, gzip, errors)
        send_story(client, datetime.now(UTC), run="r1")
        flush(client)
    assert errors == []

    assert Activity.objects.count() == 30
    taps = Activity.objects.filter(name="tap")
    assert taps.count() == 25
    assert sorted(a.properties["n"] for a in taps) == list(range(25))
    assert {a.profile.user_id for a in taps.select_related("profile")} == {f"user-{i}" for i in range(5)}
    for activity in taps:
        # stored = receivedAt − (sentAt − timestamp) ≈ real time of the tap, not the device's
        assert abs(activity.timestamp - (real_now - timedelta(minutes=10))) < timedelta(seconds=30)
    assert Activity.objects.get(name="viewed").properties["name"] == "Pricing"
    assert Activity.objects.get(name="screen_view").properties["screen_name"] == "Spring Discounts"
    zero = Profile.objects.get(user_id="user-0")
    assert (zero.email, zero.traits["plan"]) == ("zero@x.test", "pro")
    # The anonymous device was aliased into user-3, with its activity.
    assert Activity.objects.get(name="browse").profile.user_id == "user-3"
    assert Profile.objects.live().count() == 5

    # The SDK retrying the same messages (same messageIds) stores nothing new.
    client = sdk(acme.write_key, live_nudge, gzip, errors)
    send_story(client, datetime.now(UTC), run="r1")
    flush(client)
    assert errors == []
    assert Activity.objects.count() == 30


def test_a_revoked_key_is_reported_to_the_sdk_and_nothing_is_stored(live_nudge: str, acme):
    errors: list[Exception] = []
    client = Client("wk_not-a-key", host=live_nudge, max_retries=0, on_error=lambda error, batch: errors.append(error))
    client.track(user_id="u", event="tap")
    flush(client)
    assert len(errors) == 1 and getattr(errors[0], "status", None) == 401
    assert Activity.objects.count() == 0
