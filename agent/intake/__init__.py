"""Where submissions come from: :mod:`agent.intake.folder` (signed intent files in an inbox
folder that replicas share) and :mod:`agent.intake.stream` (entries of a Redis stream).

Each subpackage has its own face; this one imports neither, so using one never loads the other.
"""

__all__: list[str] = []
