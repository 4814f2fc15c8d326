"""Every common SDK, unchanged, against a real gunicorn server: Segment's and RudderStack's Node SDKs
(through the machine's Node.js and npm, tests/sdk/) and RudderStack's Python SDK. Each sends a
scenario whose every event is then stored once; RudderStack's 4 MB batches and an oversized event among
good ones (refused alone, kept as an ingestion error) go through the Python one."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rudderstack.analytics import Client as RudderClient

from activities.models import Activity, IngestionError, Profile

pytestmark = pytest.mark.slow
SDK_DIR = Path(__file__).resolve().parent.parent / "sdk"


def _node(sdk: str, host: str, write_key: str, run: str) -> dict:
    if shutil.which("node") is None or not (SDK_DIR / "node_modules").is_dir():
        pytest.fail("Node.js and tests/sdk/node_modules are needed: `make test` installs them")
    done = subprocess.run(
        ["node", str(SDK_DIR / "send.mjs"), sdk, host, write_key, run],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_a_node_sdk_scenario_is_stored_once(sdk, live_nudge, acme):
    run = uuid.uuid4().hex[:8]
    assert _node(sdk, live_nudge, acme.write_key, run) == {"errors": []}
    ours = Activity.objects.filter(workspace=acme.workspace, message_id__startswith=run)
    assert ours.filter(name="tap").count() == 25
    names = sorted(ours.exclude(name="tap").values_list("name", flat=True))
    assert names == sorted(["identify", "viewed", "screen_view", "group", "browse", "alias", "ordered"])
    assert ours.count() == len(set(ours.values_list("message_id", flat=True)))  # each once
    history = ours.get(name="ordered")
    assert abs((history.timestamp - datetime(2024, 6, 1, 10, tzinfo=UTC)).total_seconds()) < 5
    assert Profile.objects.get(workspace=acme.workspace, user_id="user-0").traits["plan"] == "pro"
    # Sent again, nothing new is stored (messageIds deduplicate).
    assert _node(sdk, live_nudge, acme.write_key, run) == {"errors": []}
    assert Activity.objects.filter(workspace=acme.workspace, message_id__startswith=run).count() == ours.count()


def test_rudderstacks_python_sdk_with_four_megabyte_batches_and_an_oversized_event(live_nudge, acme):
    errors: list[Exception] = []
    client = RudderClient(
        acme.write_key,
        host=live_nudge,
        gzip=True,
        upload_size=1000,
        max_retries=1,
        on_error=lambda error, batch: errors.append(error),
    )
    run = uuid.uuid4().hex[:8]
    for i in range(600):  # ~3.6 MB: RudderStack's SDKs batch up to 4 MB
        client.track(
            user_id=f"user-{i % 20}",
            event="viewed_product",
            properties={"blob": "b" * 6_000, "n": i},
            message_id=f"{run}-{i}",
        )
    client.track(user_id="user-0", event="too_big", properties={"blob": "x" * 40_000}, message_id=f"{run}-big")
    client.flush()
    client.join()
    assert errors == []  # the SDK saw success: the oversized event was refused alone
    stored = Activity.objects.filter(workspace=acme.workspace, message_id__startswith=run)
    assert stored.filter(name="viewed_product").count() == 600
    assert not stored.filter(name="too_big").exists()
    refused = IngestionError.objects.get(workspace=acme.workspace, message_id=f"{run}-big")
    assert refused.kind == "refused" and "is larger than 32 KB" in refused.error
