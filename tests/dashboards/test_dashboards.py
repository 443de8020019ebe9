"""The generated Grafana dashboards: committed, wired to the datasource variable, valid PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from agent.dashboards import build_all, queries, render, to_promql
from tests.support.prometheus import promtool

DASHBOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
REGENERATE = "python -m agent.dashboards grafana/dashboards"
EXPECTED_UIDS = {
    "routing-overview.json": "otc-agent-routing",
    "execution-slippage.json": "otc-agent-execution",
    "price-sources.json": "otc-agent-prices",
    "venues-rate-limits.json": "otc-agent-venues",
    "otc-pools.json": "otc-agent-pools",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONED_UID = "otc-agent-prometheus"
METRIC_NAME = re.compile(r"otc_agent_[a-z0-9_]+")
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")

Board = dict[str, Any]


@pytest.fixture(scope="module")
def boards() -> dict[str, Board]:
    return build_all()


def _panels(panels: list[Board]) -> Iterator[Board]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _data_panels(board: Board) -> list[Board]:
    return [p for p in _panels(board["panels"]) if p["type"] != "row"]


def _variable_queries(board: Board) -> list[str]:
    return [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]


def test_expected_files_and_uids(boards: dict[str, Board]) -> None:
    """The five dashboards exist under their file names with stable uids and shared settings."""
    assert {name: board["uid"] for name, board in boards.items()} == EXPECTED_UIDS
    for name, board in boards.items():
        assert board["title"].startswith("otc-agent · "), name
        assert board["tags"] == ["otc-agent"], name
        assert board["refresh"] == "10s", name
        assert board["time"] == {"from": "now-1h", "to": "now"}, name
        assert board["schemaVersion"] == 39, name
        assert any(
            link["type"] == "dashboards" and link["tags"] == ["otc-agent"]
            for link in board["links"]
        ), f"{name}: no link to the other otc-agent dashboards"
        assert _data_panels(board), f"{name}: no panels"


def test_committed_json_is_generated(boards: dict[str, Board]) -> None:
    """The committed grafana/dashboards/*.json are exactly what build_all() generates."""
    committed = {path.name for path in DASHBOARDS.glob("*.json")}
    assert committed == set(boards), (
        f"{DASHBOARDS} holds {sorted(committed)}, the code generates {sorted(boards)}; "
        f"run `{REGENERATE}` (and delete files it no longer writes)"
    )
    stale = [
        name
        for name, board in sorted(boards.items())
        if (DASHBOARDS / name).read_text(encoding="utf-8") != render(board)
    ]
    assert not stale, f"out of date: {stale}; run `{REGENERATE}` and commit the result"


def test_panels_use_datasource_variable(boards: dict[str, Board]) -> None:
    """Every panel and target queries ${datasource}; one datasource variable defaults to ours."""
    for name, board in boards.items():
        sources = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert len(sources) == 1, f"{name}: {len(sources)} datasource variables"
        assert sources[0]["name"] == "datasource", name
        assert sources[0]["query"] == "prometheus", name
        assert sources[0]["current"]["value"] == PROVISIONED_UID, name
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, f"{name}: ${variable['name']}"
        for panel in _data_panels(board):
            assert panel["datasource"] == DATASOURCE, f"{name}: {panel['title']}"
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, f"{name}: {panel['title']}"


def test_template_variables_are_defined(boards: dict[str, Board]) -> None:
    """Every $variable in a query, title or repeat is one the dashboard defines, or a built-in."""
    for name, board in boards.items():
        defined = {v["name"] for v in board["templating"]["list"]}
        for panel in _data_panels(board):
            texts = [panel["title"], *(t["expr"] for t in panel["targets"])]
            used = {a or b for text in texts for a, b in VARIABLE.findall(text)}
            if "repeat" in panel:
                used.add(panel["repeat"])
            unknown = {v for v in used if not v.startswith("__")} - defined
            assert not unknown, f"{name}: {panel['title']} uses undefined {sorted(unknown)}"


def test_referenced_metrics_are_exported(boards: dict[str, Board]) -> None:
    """Every otc_agent_* name in a query or variable is a sample name the agent exports."""
    from agent.metrics.catalog import exported_sample_names

    exported = exported_sample_names()
    missing = sorted(
        {
            (name, metric)
            for name, board in boards.items()
            for expr in [e for _, e in queries(board)] + _variable_queries(board)
            for metric in METRIC_NAME.findall(expr)
            if metric not in exported
        }
    )
    assert not missing, f"dashboards query names the agent does not export: {missing}"


def test_queries_parse_as_promql(boards: dict[str, Board], tmp_path: Path) -> None:
    """Every query, with Grafana's variables substituted, passes `promtool check rules`."""
    where: dict[str, str] = {}
    groups = []
    for name, board in sorted(boards.items()):
        rules = []
        for title, expr in queries(board):
            record = f"dashboard_check:q{len(where) + 1}"
            where[record] = f"{name} / {title}: {expr}"
            rules.append({"record": record, "expr": to_promql(expr)})
        groups.append({"name": name, "rules": rules})
    assert where, "no queries found"
    # JSON is YAML, so the rules file needs no YAML writer.
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(json.dumps({"groups": groups}, indent=2))
    result = promtool("check", "rules", str(path))
    output = result.stdout + result.stderr
    culprits = [f"{record}: {where[record]}" for record in where if f'"{record}"' in output]
    assert result.returncode == 0, output + "\n" + "\n".join(culprits)


def _overlaps(a: Board, b: Board) -> bool:
    ga, gb = a["gridPos"], b["gridPos"]
    return (
        ga["x"] < gb["x"] + gb["w"]
        and gb["x"] < ga["x"] + ga["w"]
        and ga["y"] < gb["y"] + gb["h"]
        and gb["y"] < ga["y"] + ga["h"]
    )


def _assert_disjoint(name: str, panels: list[Board]) -> None:
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, (name, panel["title"])
        assert pos["y"] >= 0 and pos["h"] > 0, (name, panel["title"])
    for a, b in combinations(panels, 2):
        assert not _overlaps(a, b), f"{name}: {a['title']!r} overlaps {b['title']!r}"


def test_panel_ids_unique_and_grid_not_overlapping(boards: dict[str, Board]) -> None:
    """Panel ids are unique within each dashboard and no two panels overlap on the grid."""
    for name, board in boards.items():
        ids = [panel["id"] for panel in _panels(board["panels"])]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        # Closed rows hold their panels; those share the grid only with each other when opened.
        _assert_disjoint(name, board["panels"])
        for header in board["panels"]:
            nested = header.get("panels", [])
            _assert_disjoint(f"{name} / {header['title']}", nested)
            assert all(p["gridPos"]["y"] > header["gridPos"]["y"] for p in nested), name
