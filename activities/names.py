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
