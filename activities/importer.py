"""Backfilling historical activities from JSON lines or CSV (`manage.py import_activities`).

Each record goes through the same validation and identity resolution as live traffic, in chunks that
commit one by one (written with COPY on PostgreSQL). A record without a messageId gets one derived from
its content, so running the same import twice stores nothing twice. Imported activities feed the
tracked-activities registry but are not evaluated by journeys: they are history, not news.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from django.utils import timezone

from activities.models import Activity
from activities.segment_spec import MAX_DEPTH, Message, SpecError, parse_message, reject_nul, too_deep
from activities.store import messages_store
from activities.tracking import tracked_activities_record

MAX_REPORTED_ERRORS = 50


@dataclass
class Record:
    line: int
    raw: Any
    fingerprint: bytes


@dataclass
class ImportReport:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, line: int, problem: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"line {line}: {problem}")


def records_from_jsonl(stream: IO[bytes]) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raw = SpecError("line", f"is not valid JSON ({error})")
            yield Record(number, raw, line)


def _csv_value(text: str) -> Any:
    """CSV cells are text; JSON literals (numbers, booleans, objects) are read as such."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def records_from_csv(stream: IO[bytes]) -> Iterator[Record]:
    """Columns: type, user_id, anonymous_id, event (or name), timestamp, message_id, properties (JSON),
    and any `properties.KEY` / `traits.KEY` columns."""
    lines = (line.decode("utf-8-sig") for line in stream)
    reader = csv.DictReader(lines)
    for number, row in enumerate(reader, start=2):
        message: dict[str, Any] = {
            "type": row.get("type") or "track",
            "userId": row.get("user_id") or None,
            "anonymousId": row.get("anonymous_id") or None,
            "event": row.get("event") or row.get("name") or None,
            "timestamp": row.get("timestamp") or None,
            "messageId": row.get("message_id") or None,
        }
        properties: dict[str, Any] = {}
        traits: dict[str, Any] = {}
        try:
            if row.get("properties"):
                properties.update(orjson.loads(row["properties"]))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            yield Record(number, SpecError("properties", "is not a JSON object"), b"")
            continue
        for column, value in row.items():
            if column and value not in (None, ""):
                if column.startswith("properties."):
                    properties[column.removeprefix("properties.")] = _csv_value(value)
                elif column.startswith("traits."):
                    traits[column.removeprefix("traits.")] = _csv_value(value)
        message["properties"], message["traits"] = properties, traits
        yield Record(number, message, orjson.dumps(row, option=orjson.OPT_SORT_KEYS))


def _message(record: Record, received_at: Any) -> Message:
    if isinstance(record.raw, SpecError):
        raise record.raw
    raw = record.raw
    if (deep := too_deep(raw, "record")) is not None:
        raise SpecError(deep, f"nests deeper than {MAX_DEPTH} levels")
    reject_nul(raw)
    if isinstance(raw, dict):
        if "type" not in raw and "event" in raw:
            raw = {**raw, "type": "track"}
        if not raw.get("messageId"):
            raw = {**raw, "messageId": "import-" + hashlib.sha256(record.fingerprint).hexdigest()[:40]}
    return parse_message(raw, call=None, received_at=received_at)


def activities_import(
    *,
    workspace_id: int,
    records: Iterable[Record],
    chunk_size: int = 5000,
    strict: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and store records in committed chunks; bad records are reported with their line."""
    report = ImportReport()
    chunk: list[Message] = []

    def flush() -> None:
        if not chunk:
            return
        result = messages_store(workspace_id=workspace_id, messages=chunk, received_at=timezone.now(), historical=True)
        report.stored += len(result.new_messages)
        report.duplicates += result.duplicates
        tracked_activities_record(
            workspace_id,
            [Activity(name=m.name, properties=m.properties, timestamp=m.timestamp) for m in result.new_messages],
        )
        if on_chunk is not None:
            on_chunk(len(chunk))
        chunk.clear()

    for record in records:
        try:
            chunk.append(_message(record, timezone.now()))
        except SpecError as error:
            report.reject(record.line, f"{error.field} {error.message}")
            if strict:
                break
        if len(chunk) >= chunk_size:
            flush()
    if not (strict and report.rejected):
        flush()
    return report
