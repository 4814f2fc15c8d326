"""Static lists from CSV: every row accounted for once (added, already there, repeated in the file, or
rejected with its line), imports that resume where a dead worker left them, re-runs that change nothing,
the command."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from activities.models import Identity, IdentityKind, Profile
from segments import lists, services
from segments.lists import ImportRefused, csv_rows, list_import_run, list_import_start
from segments.models import ListImport, Membership, Segment

NOW = datetime(2025, 1, 10, tzinfo=UTC)


def _people(workspace, count: int) -> None:
    profiles = Profile.objects.bulk_create(
        Profile(workspace=workspace, user_id=f"u{i}", email=f"u{i}@example.com", traits={}) for i in range(count)
    )
    Identity.objects.bulk_create(
        Identity(workspace=workspace, kind=IdentityKind.USER_ID, value=str(p.user_id), profile=p) for p in profiles
    )


def _list(workspace, slug: str = "vip") -> Segment:
    return services.segment_create(workspace=workspace, actor=None, data={"name": slug, "slug": slug, "kind": "list"})


def _ten_thousand_rows_with_37_bad() -> tuple[bytes, set[int]]:
    """A header, then 10,000 rows: user ids, emails, and 37 bad ones (12 unknown user ids, 10 unknown
    emails, 8 malformed emails, 7 empty values) at known lines."""
    lines = ["user_id,email"]
    bad: set[int] = set()
    for i in range(10_000):
        line = i + 2
        if i % 270 == 5 and len(bad) < 37:
            kind = len(bad) % 4
            lines.append([f"ghost{i},", f",ghost{i}@example.com", f",not-an-email-{i}", ","][kind])
            bad.add(line)
        elif i % 2:
            lines.append(f",U{i}@Example.com")  # emails compare lower-cased
        else:
            lines.append(f"u{i},")
    return ("\n".join(lines) + "\n").encode(), bad


def test_a_csv_of_ten_thousand_rows_with_37_bad_ones(acme):
    _people(acme.workspace, 10_000)
    vip = _list(acme.workspace)
    data, bad = _ten_thousand_rows_with_37_bad()
    assert len(bad) == 37
    started = list_import_start(segment=vip, actor=acme.owner, data=data, filename="vip.csv")
    assert (started.rows_total, started.status, started.progress) == (10_000, "running", 0.0)
    done = list_import_run(import_id=started.pk)
    assert (done.status, done.added, done.already, done.rejected, done.progress) == ("done", 9_963, 0, 37, 1.0)
    assert {p["line"] for p in done.problems} == bad
    reasons = {p["reason"] for p in done.problems}
    assert reasons == {
        "no profile with this user id",
        "no profile with this email",
        "not an email address",
        "no user id or email",
    }
    assert Membership.objects.filter(segment=vip).count() == 9_963
    vip.refresh_from_db()
    assert vip.size == 9_963 and vip.sizes.last().size == 9_963

    again = list_import_run(import_id=list_import_start(segment=vip, actor=None, data=data).pk)
    assert (again.added, again.already, again.rejected) == (0, 9_963, 37)  # a re-run changes nothing
    assert Membership.objects.filter(segment=vip).count() == 9_963


def test_an_import_whose_worker_died_resumes_at_its_cursor(acme):
    _people(acme.workspace, 2_500)
    vip = _list(acme.workspace)
    data = "\n".join(f"u{i}" for i in range(2_500)).encode()
    started = list_import_start(segment=vip, actor=None, data=data)
    # A worker committed one chunk, then died (its budget ran out here).
    first = list_import_run(import_id=started.pk, budget_seconds=0.000001)
    assert (first.status, first.cursor, first.added) == ("running", lists.CHUNK, lists.CHUNK)
    assert first.progress == pytest.approx(lists.CHUNK / 2_500)
    assert lists.imports_run() == 1  # the periodic task takes it up where it stopped
    done = ListImport.objects.get(pk=started.pk)
    assert (done.status, done.added, done.rejected, done.source) == ("done", 2_500, 0, "")
    assert Membership.objects.filter(segment=vip).count() == 2_500


def test_a_row_repeating_one_of_a_chunk_done_before_a_resume_counts_as_repeated(acme):
    _people(acme.workspace, 1_500)
    vip = _list(acme.workspace)
    lines = [f"u{i}" for i in range(1_500)] + ["u0", "U1@example.com", "u1499"]  # the second chunk repeats
    started = list_import_start(segment=vip, actor=None, data="\n".join(lines).encode())
    first = list_import_run(import_id=started.pk, budget_seconds=0.000001)  # one chunk, then the worker died
    assert (first.cursor, first.added, first.repeated) == (lists.CHUNK, lists.CHUNK, 0)
    done = list_import_run(import_id=started.pk)
    assert (done.rows_total, done.added, done.already, done.repeated, done.rejected) == (1_503, 1_500, 0, 3, 0)
    vip.refresh_from_db()
    assert vip.size == 1_500 and sum(s.entered for s in vip.sizes.all()) == 1_500


def test_files_that_cannot_be_imported_are_refused_saying_why(acme, settings):
    vip = _list(acme.workspace)
    with pytest.raises(ImportRefused, match=r"not UTF-8 text \(line 2\)"):
        list_import_start(segment=vip, actor=None, data=b"ann\ncaf\xe9\n")
    with pytest.raises(ImportRefused, match="has no rows"):
        list_import_start(segment=vip, actor=None, data=b"\n\n")
    with pytest.raises(ImportRefused, match="has no rows"):
        list_import_start(segment=vip, actor=None, data=b"email\n")
    settings.NUDGE_SEGMENT_IMPORT_MAX_BYTES = 10
    with pytest.raises(ImportRefused, match="larger than") as refused:
        list_import_start(segment=vip, actor=None, data=b"a" * 11)
    assert refused.value.too_large
    rule = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "r", "rule": {"tag": "x"}})
    with pytest.raises(services.SegmentError, match="only a list"):
        list_import_start(segment=rule, actor=None, data=b"ann\n")
    assert not ListImport.objects.exists()


def test_rows_are_read_with_or_without_a_header():
    def read(text: str) -> list[tuple]:
        return [(r.line, getattr(r, "kind", None), r.value, getattr(r, "reason", None)) for r in csv_rows(text)]

    assert read("ann\nbob@example.com\n\n  \ncem") == [
        (1, "user_id", "ann", None),
        (2, "email", "bob@example.com", None),
        (5, "user_id", "cem", None),
    ]
    assert read("\ufeffEmail,Name\nANN@example.com,Ann\nx,\n") == [
        (2, "email", "ann@example.com", None),
        (3, None, "x", "not an email address"),
    ]
    assert read('id,email\n"a\nb",\n,b@example.com\n') == [
        (2, "user_id", "a\nb", None),
        (4, "email", "b@example.com", None),
    ]


def test_members_added_and_removed_by_id_or_email(acme):
    _people(acme.workspace, 3)
    vip = _list(acme.workspace)
    change = lists.list_members_change(segment=vip, actor=acme.owner, add=["u0", "U1@example.com", "nobody", ""])
    assert (change.added, change.already) == (2, 0)
    assert [(p.field, p.reason) for p in change.problems] == [
        ("add[2]", "no profile with this user id"),
        ("add[3]", "no user id"),
    ]
    change = lists.list_members_change(segment=vip, actor=acme.owner, add=["u0"], remove=["u1@example.com"])
    assert (change.added, change.already, change.removed) == (0, 1, 1)
    assert list(Membership.objects.filter(segment=vip).values_list("profile__user_id", flat=True)) == ["u0"]


def test_each_value_added_is_counted_once_even_repeated_or_naming_several_people(acme):
    _people(acme.workspace, 3)
    Profile.objects.filter(user_id__in=["u1", "u2"]).update(email="twins@example.com")  # an email names both
    vip = _list(acme.workspace)
    lists.list_members_change(segment=vip, actor=None, add=["u2"])
    change = lists.list_members_change(
        segment=vip, actor=None, add=["u0", "u0", "U0@example.com", "twins@example.com", "u1", "u2", "ghost"]
    )
    # u0 added; u0 and its email repeated; the twins' email added (u1 joined); u1 and u2 repeated; ghost.
    assert (change.added, change.already, change.repeated, len(change.problems)) == (2, 0, 4, 1)
    assert change.entered == 2 and Membership.objects.filter(segment=vip).count() == 3
    change = lists.list_members_change(segment=vip, actor=None, add=["u2", "twins@example.com", "u1"])
    assert (change.added, change.already, change.repeated) == (0, 2, 1)  # the email names u1 too: already


def test_the_command_imports_a_file_and_reports_bad_rows_by_line(acme, tmp_path):
    _people(acme.workspace, 3)
    path = tmp_path / "people.csv"
    path.write_text("user_id\nu0\nu1\nghost\nu2\n")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "segment_import",
        str(path),
        workspace=acme.workspace.slug,
        segment="beta",
        create="Beta testers",
        no_progress=True,
        stdout=out,
        stderr=err,
    )
    assert out.getvalue().strip() == "added 3, already in the list 0, repeated in the file 0, rejected 1"
    assert "line 4: no profile with this user id ('ghost')" in err.getvalue()
    segment = Segment.objects.get(workspace=acme.workspace, slug="beta")
    assert (segment.name, segment.kind, segment.size) == ("Beta testers", "list", 3)
    out = io.StringIO()
    call_command(
        "segment_import",
        str(path),
        workspace=acme.workspace.slug,
        segment="beta",
        no_progress=True,
        stdout=out,
        stderr=io.StringIO(),
    )
    assert out.getvalue().strip() == "added 0, already in the list 3, repeated in the file 0, rejected 1"
    with pytest.raises(CommandError, match="is not a segment"):
        call_command("segment_import", str(path), workspace=acme.workspace.slug, segment="nope", no_progress=True)
    with pytest.raises(CommandError, match="not a workspace"):
        call_command("segment_import", str(path), workspace="nope", segment="beta", no_progress=True)
    (tmp_path / "latin1.csv").write_bytes(b"caf\xe9\n")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("segment_import", str(tmp_path / "latin1.csv"), workspace=acme.workspace.slug, segment="beta")
