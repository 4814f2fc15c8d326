"""Group commit for ingestion in threaded web workers (gunicorn's gthread).

Each request still gets its answer only after its events are committed, but concurrent requests in one
process share a transaction: one writer thread takes whatever requests are waiting, stores their
messages together and wakes them all. Under load this turns N small transactions (each with its
round trips, its WAL flush and its pipeline task) into one; with a single request waiting it costs one
thread hand-off. A group that fails for a reason other than the database being unreachable is retried
request by request, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime

from django.db import close_old_connections, connection

from activities.segment_spec import Message
from activities.store import StorageUnavailable, messages_store_retrying

logger = logging.getLogger(__name__)

MAX_GROUP_MESSAGES = 2000
WAIT_SECONDS = 30.0


@dataclass
class _Job:
    workspace_id: int
    messages: list[Message]
    received_at: datetime
    done: threading.Event = field(default_factory=threading.Event)
    error: StorageUnavailable | None = None


class GroupCommitter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._owner_pid: int | None = None
        self._writer: threading.Thread | None = None

    def store(self, *, workspace_id: int, messages: list[Message], received_at: datetime) -> None:
        """Return once the messages are committed; raise StorageUnavailable if they could not be."""
        job = _Job(workspace_id, messages, received_at)
        self._ensure_writer()
        self._queue.put(job)
        if not job.done.wait(WAIT_SECONDS):
            raise StorageUnavailable("timed out waiting for the group commit")
        if job.error is not None:
            raise job.error

    def stop(self) -> None:
        """Let the writer finish what is queued, close its database connection and exit."""
        if self._owner_pid == os.getpid() and self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=WAIT_SECONDS)
            self._owner_pid, self._writer = None, None

    def _ensure_writer(self) -> None:
        # Started lazily, and again in a forked child: threads do not survive fork().
        if self._owner_pid == os.getpid():
            return
        with self._lock:
            if self._owner_pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._writer = threading.Thread(target=self._run, name="nudge-group-commit", daemon=True)
                self._writer.start()
                self._owner_pid = os.getpid()

    def _run(self) -> None:
        tasks = self._queue
        while True:
            first = tasks.get()
            if first is None:
                connection.close()
                return
            jobs, size, stopping = [first], len(first.messages), False
            while size < MAX_GROUP_MESSAGES:
                try:
                    job = tasks.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
                size += len(job.messages)
            try:
                self._commit(jobs)
            except Exception:  # the writer must outlive any bug: its waiters are answered below
                logger.exception("group commit failed")
                for job in jobs:
                    job.error = job.error or StorageUnavailable("group commit failed")
            finally:
                for job in jobs:
                    job.done.set()
            if stopping:
                connection.close()
                return

    def _commit(self, jobs: list[_Job]) -> None:
        close_old_connections()
        by_workspace: dict[int, list[_Job]] = {}
        for job in jobs:
            by_workspace.setdefault(job.workspace_id, []).append(job)
        for workspace_id, group in by_workspace.items():
            try:
                # One received_at for the group: its requests arrived within milliseconds of each other.
                messages_store_retrying(
                    workspace_id=workspace_id,
                    messages=[message for job in group for message in job.messages],
                    received_at=min(job.received_at for job in group),
                )
            except StorageUnavailable as error:
                if error.unreachable or len(group) == 1:
                    for job in group:
                        job.error = error
                    connection.close()
                    continue
                for job in group:  # isolate the request that fails the group
                    try:
                        messages_store_retrying(
                            workspace_id=workspace_id, messages=job.messages, received_at=job.received_at
                        )
                    except StorageUnavailable as single:
                        job.error = single


group_committer = GroupCommitter()
