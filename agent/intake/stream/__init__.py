"""The Redis stream intake: signed envelopes arrive as entries of one stream, read by a
consumer group that every replica joins.

:class:`StreamIntake` (set up by :class:`StreamSettings`) yields a :class:`StreamItem` per entry;
:class:`StreamUnavailable` means Redis is away. Submitters append entries with
:func:`agent.intake.stream.submit.submit`.
"""

# submit() is not re-exported: the name would hide the module agent.intake.stream.submit.
from agent.intake.stream.client import StreamUnavailable
from agent.intake.stream.entries import StreamItem
from agent.intake.stream.intake import StreamIntake, StreamSettings

__all__ = ["StreamIntake", "StreamItem", "StreamSettings", "StreamUnavailable"]
