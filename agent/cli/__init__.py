"""The `otc-agent` command line (:func:`main`); each module holds a group of commands."""

from agent.cli.main import main

__all__ = ["main"]
