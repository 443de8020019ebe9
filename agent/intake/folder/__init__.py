"""The folder protocol: signed intent files dropped in ``inbox/``, claimed into ``work/`` by a
no-replace rename, filed into ``done/`` or ``rejected/`` with a result beside them.

:class:`DirectoryIntake` is what the daemon reads: a :class:`DirectoryItem` per claimed file,
named by its :class:`Claim`. :class:`IntakeLayout` names the folders; :func:`claim`, the claim
names and the folder listings are what the tests and the benchmarks reach in with.
"""

from agent.intake.folder.claims import claim
from agent.intake.folder.intake import DirectoryIntake, DirectoryItem
from agent.intake.folder.layout import IntakeLayout, is_ignored, list_claims
from agent.intake.folder.names import Claim, parse_claim_name

__all__ = [
    "Claim",
    "DirectoryIntake",
    "DirectoryItem",
    "IntakeLayout",
    "claim",
    "is_ignored",
    "list_claims",
    "parse_claim_name",
]
