"""Names of the activities Nudge records itself, and what `*` ("any activity") means: anything the
profile did, not what Nudge derived from it. Pure code, shared by the journey engine, behaviors and the
condition vocabulary, so that `*` means one thing everywhere."""

from __future__ import annotations

BEHAVIOR_PREFIX = "behavior:"
SEGMENT_ENTERED = "segment_entered"
SEGMENT_EXITED = "segment_exited"
# Recorded by Nudge about a profile, not done by it (message_opened and message_clicked are the person's).
DERIVED = frozenset({SEGMENT_ENTERED, SEGMENT_EXITED, "message_delivered", "message_failed"})


def is_behavior(name: str) -> bool:
    return name.startswith(BEHAVIOR_PREFIX)


def counts_as_any(name: str) -> bool:
    """Does an activity of this name answer `*`? Not a behavior firing, not what Nudge records (a
    segment change, a delivery report): those would let an "inactive" pattern or segment wake itself."""
    return not name.startswith(BEHAVIOR_PREFIX) and name not in DERIVED


# What Nudge records itself and an app may not send (the write key is public): a behavior's firing would
# enter its journeys and skip its max_once_per, a forged delivery report would count in a journey's
# numbers, a segment change would look like the refresh's.
OUTCOMES = frozenset({"message_delivered", "message_failed", "message_opened", "message_clicked", "unsubscribed"})


def is_recorded_by_nudge(name: str) -> bool:
    return name.startswith(BEHAVIOR_PREFIX) or name in DERIVED or name in OUTCOMES
