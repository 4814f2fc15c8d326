"""Static lists: members added and removed by user id or email, and CSV imports run in committed
chunks (resumable; every row counted once: added, already in the list, repeated in the file, or
rejected, and every row that names nobody, or nothing usable, reported with its line)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from activities.models import Identity, IdentityKind, Profile
from segments.models import ListImport, Membership, Segment, SegmentKind
from segments.services import Problem, SegmentError, changes_record, list_size_record
from workspaces.services import audit_log_append

CHUNK = 1000
MAX_PROBLEMS = 10_000  # listed; all are counted
MAX_IDS_PER_CALL = 10_000
USER_ID_HEADERS = {"user_id", "userid", "user id", "id"}
EMAIL_HEADERS = {"email", "e-mail", "email address", "mail"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ImportRefused(ValueError):
    """The file cannot be imported at all (too large, not text, no rows): nothing was started."""

    def __init__(self, field: str, message: str, *, too_large: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.too_large = too_large


@dataclass(frozen=True)
class Row:
    line: int
    kind: str  # "user_id" or "email"
    value: str


@dataclass(frozen=True)
class Rejected:
    line: int  # in a file; the index in a list of ids given through the API
    value: str
    reason: str
    field: str = ""  # through the API: add[3]

    def as_dict(self) -> dict[str, object]:
        where = {"field": self.field} if self.field else {"line": self.line}
        return {**where, "value": self.value[:200], "reason": self.reason}


def identifier(value: str, kind: str | None, line: int) -> Row | Rejected:
    """One user id or email as written; `kind` None: an email if it has an @, else a user id."""
    text = value.strip()
    kind = kind or ("email" if "@" in text else "user_id")
    if not text:
        return Rejected(line, value, f"no {kind.replace('_', ' ')}")
    if "\x00" in text or len(text) > 255:
        return Rejected(line, value, "not a usable value (a NUL character, or longer than 255 characters)")
    if kind == "email":
        if not _EMAIL.match(text):
            return Rejected(line, value, "not an email address")
        text = text.lower()
    return Row(line, kind, text)


def csv_rows(text: str) -> Iterator[Row | Rejected]:
    """The file's rows: with a header naming a `user_id` and/or `email` column (a row's user id wins when
    it has both), or without one (a value per line, an email when it has an @). Blank lines are skipped."""
    reader = csv.reader(io.StringIO(text))
    columns: dict[str, int] | None = None
    first = True
    line = 1
    while True:
        start = line
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportRefused("file", f"line {start}: {error}") from None
        line = reader.line_num + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line; a row of empty cells is a row (and reported)
        if first:
            first = False
            names = [cell.strip().lower().lstrip("\ufeff") for cell in row]
            found = {
                kind: names.index(name)
                for kind, heads in (("user_id", USER_ID_HEADERS), ("email", EMAIL_HEADERS))
                for name in names
                if name in heads
            }
            if found:
                columns = found
                continue
        if columns is None:
            yield identifier(row[0], None, start)
            continue
        cells = {kind: row[index] if index < len(row) else "" for kind, index in columns.items()}
        if cells.get("user_id", "").strip():
            yield identifier(cells["user_id"], "user_id", start)
        elif cells.get("email", "").strip():
            yield identifier(cells["email"], "email", start)
        else:
            yield Rejected(start, ",".join(row), f"no {' or '.join(k.replace('_', ' ') for k in columns)}")


def csv_text(data: bytes) -> str:
    """The upload as text: UTF-8 (a byte-order mark allowed), within the size limit."""
    limit = settings.NUDGE_SEGMENT_IMPORT_MAX_BYTES
    if len(data) > limit:
        raise ImportRefused("file", f"is larger than {size_text(limit)}", too_large=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportRefused("file", f"is not UTF-8 text (line {line}); save it as CSV UTF-8") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ImportRefused("file", f"has a NUL character on line {line}: it is not a text CSV")
    return text


def size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(limit // 1024, 1)} KB"


# --- Members by id -----------------------------------------------------------------------------------


@dataclass
class Change:
    """Adding, every row (or value given) is counted once: it `added` someone, or named only people
    `already` in the list, or only people an earlier row named (`repeated`), or it is one of the
    `problems`. `entered`: the people who joined (an email can name several); `removed`: people."""

    added: int = 0
    removed: int = 0
    already: int = 0
    repeated: int = 0
    problems: list[Rejected] = field(default_factory=list)
    entered: int = 0


def _profiles(workspace_id: int, rows: list[Row]) -> dict[tuple[str, str], list[int]]:
    """The live profiles each (kind, value) names: a user id names one, an email any number."""
    user_ids = [r.value for r in rows if r.kind == "user_id"]
    emails = [r.value for r in rows if r.kind == "email"]
    found: dict[tuple[str, str], list[int]] = {}
    identities = Identity.objects.filter(
        workspace_id=workspace_id, kind=IdentityKind.USER_ID, value__in=user_ids, profile__merged_into__isnull=True
    ).values_list("value", "profile_id")
    for value, pk in identities:
        found.setdefault(("user_id", value), []).append(pk)
    for email, pk in (
        Profile.objects.live().filter(workspace_id=workspace_id, email__in=emails).values_list("email", "pk")
    ):
        found.setdefault(("email", email), []).append(pk)
    return found


def _locked_list(segment: Segment) -> Segment:
    if segment.kind != SegmentKind.LIST:
        raise SegmentError([Problem("kind", "members of a rule segment follow its rule; add them to a list")])
    rows = Segment.objects.filter(pk=segment.pk)
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    return rows.get()


def _named(workspace_id: int, rows: list[Row | Rejected]) -> set[int]:
    """The live profiles the rows name (those of a file's chunks already imported, when it resumes)."""
    usable = [r for r in rows if isinstance(r, Row)]
    named: set[int] = set()
    for start in range(0, len(usable), CHUNK):
        for ids in _profiles(workspace_id, usable[start : start + CHUNK]).values():
            named.update(ids)
    return named


def _apply(segment: Segment, rows: list[Row | Rejected], *, remove: bool, named: set[int] | None = None) -> Change:
    """Add (or remove) the profiles rows name, in the caller's transaction; the list is locked.

    `named`: the profiles earlier rows named (a file's earlier chunks), updated with these rows' own, so
    that a row naming someone a row above it named already counts as repeated, not as added again."""
    change = Change(problems=[r for r in rows if isinstance(r, Rejected)])
    named = set() if named is None else named
    usable = [r for r in rows if isinstance(r, Row)]
    found = _profiles(segment.workspace_id, usable)
    named_by_row: list[set[int]] = []
    for row in usable:
        ids = found.get((row.kind, row.value))
        if not ids:
            label = "user id" if row.kind == "user_id" else "email"
            change.problems.append(Rejected(row.line, row.value, f"no profile with this {label}"))
        else:
            named_by_row.append(set(ids))
    change.problems.sort(key=lambda p: p.line)
    wanted: set[int] = set().union(*named_by_row)
    present = set(
        Membership.objects.filter(segment=segment, profile_id__in=wanted).values_list("profile_id", flat=True)
    )
    now = timezone.now()
    if remove:
        gone = sorted(present)
        Membership.objects.filter(segment=segment, profile_id__in=gone).delete()
        change.removed = len(gone)
        entered, exited = [], gone
    else:
        new = sorted(wanted - present)
        Membership.objects.bulk_create(
            [Membership(segment=segment, profile_id=pk, since=now) for pk in new], batch_size=500
        )
        for people in named_by_row:
            if people - present - named:
                change.added += 1
            elif people <= named:
                change.repeated += 1
            else:
                change.already += 1
            named |= people
        change.entered = len(new)
        entered, exited = new, []
    if segment.record_changes and (entered or exited):
        segment.refreshes += 1
        segment.save(update_fields=["refreshes"])
        changes_record(segment, entered=entered, exited=exited, at=now)
    return change


@transaction.atomic
def list_members_change(
    *, segment: Segment, actor: User | None, add: list[str] | None = None, remove: list[str] | None = None
) -> Change:
    """Add and remove members by user id or email (an email when the value has an @)."""
    values = [("add", v) for v in add or []] + [("remove", v) for v in remove or []]
    if len(values) > MAX_IDS_PER_CALL:
        raise SegmentError([Problem("add", f"at most {MAX_IDS_PER_CALL} user ids or emails per call")])
    bad = [
        f"{key}[{i}]"
        for key in ("add", "remove")
        for i, v in enumerate((add if key == "add" else remove) or [])
        if not isinstance(v, str)
    ]
    if bad:
        raise SegmentError([Problem(name, "must be a user id or an email (a string)") for name in bad])
    segment = _locked_list(segment)
    added = _apply(segment, [identifier(v, None, i) for i, v in enumerate(add or [])], remove=False)
    removed = _apply(segment, [identifier(v, None, i) for i, v in enumerate(remove or [])], remove=True)
    list_size_record(segment, entered=added.entered, exited=removed.removed)
    audit_log_append(
        workspace=segment.workspace,
        actor=actor,
        action="changed",
        obj=segment,
        changes={"added": added.added, "removed": removed.removed},
    )
    problems = [replace(p, field=f"add[{p.line}]") for p in added.problems]
    problems += [replace(p, field=f"remove[{p.line}]") for p in removed.problems]
    return Change(
        added=added.added,
        removed=removed.removed,
        already=added.already,
        repeated=added.repeated,
        problems=problems,
        entered=added.entered,
    )


# --- CSV imports -----------------------------------------------------------------------------------


def list_import_start(*, segment: Segment, actor: User | None, data: bytes, filename: str = "") -> ListImport:
    """Check the file and queue its import (ImportRefused when it cannot be read at all)."""
    if segment.kind != SegmentKind.LIST:
        raise SegmentError([Problem("kind", "only a list takes a CSV of members")])
    text = csv_text(data)
    total = sum(1 for _ in csv_rows(text))
    if total == 0:
        raise ImportRefused("file", "has no rows: one user id or email per line, or a user_id / email column")
    started = ListImport.objects.create(
        segment=segment, filename=filename[:255], source=text, rows_total=total, created_by=actor
    )
    audit_log_append(
        workspace=segment.workspace,
        actor=actor,
        action="imported",
        obj=segment,
        changes={"rows": total, "file": filename},
    )
    from segments.tasks import imports_soon

    imports_soon()
    return started


def list_import_run(
    *, import_id: int, budget_seconds: float = 50.0, progress: Callable[[ListImport], None] | None = None
) -> ListImport | None:
    """Import the rows not yet handled, a committed chunk at a time, until done or out of time."""
    started = time.monotonic()
    rows: list[Row | Rejected] | None = None
    named: set[int] = set()  # the profiles the rows before `known` named
    known = 0
    while True:  # at least one chunk a call, then as many as the budget allows
        with transaction.atomic():
            found = ListImport.objects.filter(pk=import_id, status=ListImport.Status.RUNNING)
            if connection.features.has_select_for_update:
                found = found.select_for_update(skip_locked=True)
            job = found.select_related("segment").first()
            if job is None:
                return ListImport.objects.filter(pk=import_id).first()
            if rows is None:
                rows = list(csv_rows(job.source))  # once per run; the cursor says where to go on
            if job.cursor != known:  # resumed (or another worker went on meanwhile): who the rows above named
                named, known = _named(job.segment.workspace_id, rows[: job.cursor]), job.cursor
            chunk = rows[job.cursor : job.cursor + CHUNK]
            segment = _locked_list(job.segment)
            change = _apply(segment, chunk, remove=False, named=named)
            job.cursor += len(chunk)
            known = job.cursor
            job.added += change.added
            job.already += change.already
            job.repeated += change.repeated
            job.rejected += len(change.problems)
            room = MAX_PROBLEMS - len(job.problems)
            job.problems = job.problems + [p.as_dict() for p in sorted(change.problems, key=lambda p: p.line)[:room]]
            if job.cursor >= len(rows):
                job.status, job.finished_at, job.source = ListImport.Status.DONE, timezone.now(), ""
            job.save()
            list_size_record(segment, entered=change.entered, exited=0)
        if progress is not None:
            progress(job)
        if job.status == ListImport.Status.DONE or time.monotonic() - started >= budget_seconds:
            return job


def imports_run(*, budget_seconds: float = 50.0) -> int:
    """Every running import (one whose worker died resumes at its cursor); returns how many finished."""
    started, done = time.monotonic(), 0
    for pk in (
        ListImport.objects.filter(status=ListImport.Status.RUNNING).order_by("created_at").values_list("pk", flat=True)
    ):
        left = budget_seconds - (time.monotonic() - started)
        if left <= 0:
            break
        job = list_import_run(import_id=pk, budget_seconds=left)
        done += job is not None and job.status == ListImport.Status.DONE
    return done
