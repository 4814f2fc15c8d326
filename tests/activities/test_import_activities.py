"""`manage.py import_activities`: JSON lines and CSV through COPY, idempotent, bad rows reported."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import orjson
import pytest
from django.core.management import CommandError, call_command

from activities.models import Activity, EvaluationBatch, Profile, TrackedActivity

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_activities", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_lines_import_stores_history_once(acme, tmp_path: Path):
    lines = [
        {
            "userId": f"u{i % 4}",
            "event": "purchase",
            "properties": {"price": i},
            "timestamp": f"2023-05-0{1 + i % 9}T10:00:00Z",
        }
        for i in range(30)
    ] + [{"type": "identify", "userId": "u0", "traits": {"email": "u0@x.test"}, "timestamp": "2023-05-01T09:00:00Z"}]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    out, _ = run(str(path), "--workspace", acme.workspace.slug, "--chunk-size", "7")
    assert out.strip() == "stored 31, duplicates 0, rejected 0"
    assert Activity.objects.filter(name="purchase").count() == 30
    assert Profile.objects.get(user_id="u0").email == "u0@x.test"
    assert TrackedActivity.objects.get(name="purchase").count == 30
    assert not EvaluationBatch.objects.exists()  # history is not evaluated by journeys
    out, _ = run(str(path), "--workspace", acme.workspace.slug)
    assert out.strip() == "stored 0, duplicates 31, rejected 0"
    assert Activity.objects.count() == 31


def test_csv_import_reads_property_columns_and_reports_bad_rows(acme, tmp_path: Path):
    path = tmp_path / "history.csv"
    path.write_text(
        "user_id,event,timestamp,properties.price,properties.sku,message_id\n"
        "ann,purchase,2023-01-01T10:00:00Z,150,sku-1,m1\n"
        ",purchase,2023-01-02T10:00:00Z,20,sku-2,m2\n"
        "bob,,2023-01-03T10:00:00Z,20,sku-3,m3\n"
        "bob,purchase,not-a-date,20,sku-4,m4\n"
        "bob,purchase,2023-01-04T10:00:00Z,20,sku-5,m5\n"
    )
    out, err = run(str(path), "--workspace", acme.workspace.slug)
    assert out.strip() == "stored 2, duplicates 0, rejected 3"
    assert "line 3: userId either userId or anonymousId is required" in err
    assert "line 4: event is required" in err
    assert "line 5: timestamp" in err
    ann = Activity.objects.get(profile__user_id="ann")
    assert ann.properties == {"price": 150, "sku": "sku-1"}
    assert ann.message_id == "m1"


def test_bad_json_lines_are_reported_with_their_line(acme, tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"userId": "u", "event": "ok"}\n{broken\n{"userId": "u"}\n')
    out, err = run(str(path), "--workspace", acme.workspace.slug)
    assert out.strip() == "stored 1, duplicates 0, rejected 2"
    assert "line 2: line is not valid JSON" in err


def test_nul_characters_are_reported_not_sent_to_postgres(acme, tmp_path: Path):
    path = tmp_path / "nul.jsonl"
    path.write_text('{"userId": "u", "event": "ok"}\n{"userId": "u", "event": "x", "properties": {"n": "\\u0000"}}\n')
    out, err = run(str(path), "--workspace", acme.workspace.slug)
    assert out.strip() == "stored 1, duplicates 0, rejected 1"
    assert "line 2: properties.n contains a NUL character" in err


def test_strict_stops_at_the_first_bad_record(acme, tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"userId": "u", "event": "ok"}\n{broken\n{"userId": "u", "event": "later"}\n')
    with pytest.raises(CommandError, match="--strict"):
        run(str(path), "--workspace", acme.workspace.slug, "--strict")
    assert not Activity.objects.filter(name="later").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.jsonl", "--workspace", "acme"], "does not exist"),
        (["{file}", "--workspace", "nope"], "--workspace"),
        (["{file}", "--workspace", "acme", "--chunk-size", "0"], "--chunk-size"),
    ],
)
def test_bad_arguments_are_refused(acme, tmp_path: Path, args, message):
    path = tmp_path / "x.jsonl"
    path.write_text("")
    with pytest.raises(CommandError, match=message):
        run(*[a.replace("{file}", str(path)) for a in args])
