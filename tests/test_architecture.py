"""The dependency rules of docs/development.md, read from every module's imports.

onchain never imports agent; agent/domain imports nothing else of the project; an adapter
(intake, net, pricing, venues, store) imports no other adapter but net, and nothing that uses
adapters (pipeline, ledger, settlement, app, cli); net imports nothing else of agent; no two
modules import each other, directly or around a circle, type-checking imports included.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.import_graph import circles, forbidden_edges, import_graph

REPO = Path(__file__).resolve().parents[1]


def test_no_import_breaks_a_dependency_rule() -> None:
    """No module of agent/ or onchain/ imports across a forbidden edge."""
    broken = forbidden_edges(import_graph(REPO))
    assert not broken, "\n".join(f"{edge}: {rule}" for edge, rule in broken)


def test_no_import_circle() -> None:
    """No set of modules imports itself around a circle."""
    found = circles(import_graph(REPO))
    assert not found, "\n".join(" <-> ".join(circle) for circle in found)


def test_agent_top_level_holds_only_the_package_entry_points() -> None:
    """agent/ holds packages, and no module but __init__.py and __main__.py."""
    modules = sorted(path.name for path in (REPO / "agent").glob("*.py"))
    assert modules == ["__init__.py", "__main__.py"]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"agent/__init__.py": "", "onchain/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.mark.parametrize(
    ("files", "rule"),
    [
        ({"onchain/spl.py": "from agent.domain import tokens\n"}, "onchain never imports agent"),
        (
            {"agent/domain/policy.py": "from agent.store import wallets\n"},
            "domain imports nothing else",
        ),
        (
            {"agent/domain/policy.py": "import onchain.spl\n", "onchain/spl.py": ""},
            "domain imports nothing else",
        ),
        (
            {"agent/pricing/sources.py": "from agent.venues.jupiter import client\n"},
            "adapters share only net",
        ),
        (
            {"agent/venues/otc.py": "from agent.ledger.plans import Plan\n"},
            "never imports ledger",
        ),
        (
            {
                "agent/store/pools.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from agent.app import assembly\n"
                )
            },
            "never imports app",
        ),
        ({"agent/net/rate_budget.py": "from agent.domain import quotes\n"}, "net imports nothing"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path: Path, files: dict[str, str], rule: str) -> None:
    """Each rule names the edge that breaks it, in a tree made to break it."""
    broken = forbidden_edges(import_graph(_tree(tmp_path, files)))
    assert len(broken) == 1 and rule in broken[0][1]


@pytest.mark.parametrize(
    "files",
    [
        {
            "agent/pipeline/a.py": "from agent.pipeline import b\n",
            "agent/pipeline/b.py": "import agent.pipeline.a\n",
        },
        {
            "agent/ledger/a.py": "from agent.ledger.b import x\n",
            "agent/ledger/b.py": "from agent.ledger.c import y\n",
            "agent/ledger/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agent.ledger.a import z\n"
            ),
        },
    ],
)
def test_an_import_circle_is_caught(tmp_path: Path, files: dict[str, str]) -> None:
    """Two or three modules that import each other (type-checking only, too) are one circle."""
    found = circles(import_graph(_tree(tmp_path, files)))
    assert found == [sorted(name.removesuffix(".py").replace("/", ".") for name in files)]


def test_allowed_imports_pass(tmp_path: Path) -> None:
    """A package's face importing its own modules, and pipeline importing adapters, are fine."""
    files = {
        "agent/net/__init__.py": "from agent.net.budget import Bucket\n",
        "agent/net/budget.py": "from agent.net import errors\n",
        "agent/net/errors.py": "",
        "agent/venues/otc.py": "from agent.net import Bucket\nfrom agent.domain import quotes\n",
        "agent/pipeline/legs.py": "from agent.venues import otc\nfrom agent.store import pools\n",
    }
    graph = import_graph(_tree(tmp_path, files))
    assert forbidden_edges(graph) == [] and circles(graph) == []
