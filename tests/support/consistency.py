"""After a run: every intent file ended exactly once, in the intake folders and in SQL."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from agent.intake.folder.names import parse_claim_name
from agent.store.models import IntentRow, SubmissionRow
from tests.support.agent_home import AgentHome

__all__ = ["every_file_ended_once", "result_name", "visible"]


def visible(root: Path, folder: str) -> int:
    """Entries in an intake folder, leaving out hidden ones (temporary files, owner locks)."""
    return sum(1 for name in os.listdir(root / folder) if not name.startswith("."))


def result_name(submission: Any) -> str:
    """Results are named by intent id, except replays of an id and unreadable files (claim id)."""
    if submission.intent_id and submission.reason != "replayed_id":
        return str(submission.intent_id)
    return str(submission.ref)


async def every_file_ended_once(home: AgentHome, count: int) -> list[Any]:
    """Files and SQL agree on ``count`` intent files: one original each in done/ or rejected/,
    one terminal submission row each, and one result file per result name (with the status and
    claim of a submission of that name);
    nothing left in the inbox, in work/, accepted or executing. Returns the submissions."""
    root = home.root
    assert home.files("inbox") == [] and visible(root, "work") == 0
    finished = home.files("done") + [
        n for n in home.files("rejected") if not n.endswith(".reason.json")
    ]
    assert len(finished) == count
    assert len({parse_claim_name(n)[1] for n in finished}) == count  # type: ignore[index]
    submissions = await home.rows(SubmissionRow.__table__)
    assert len(submissions) == count == len({s.ref for s in submissions})
    by_name: dict[str, list[Any]] = defaultdict(list)
    for submission in submissions:
        assert submission.status in ("filled", "rejected", "failed")
        by_name[result_name(submission)].append(submission)
    assert visible(root, "out") == len(by_name)
    for name, sharing in by_name.items():
        if len(sharing) > 1:
            # Only refusals of one intent id that none of them consumed share a result file
            # (a later one replaces it; SQL keeps each): a replay of an unaccepted intent.
            assert len({s.intent_id for s in sharing}) == 1 and sharing[0].intent_id
            assert all(s.status == "rejected" for s in sharing), sharing
        document = json.loads((root / "out" / f"{name}.result.json").read_text())
        answered = (document["status"], document["submission"]["ref"])
        assert answered in {(s.status, s.ref) for s in sharing}
    intents = await home.rows(IntentRow.__table__)
    assert not [i for i in intents if i.status in ("accepted", "executing")]
    return submissions
