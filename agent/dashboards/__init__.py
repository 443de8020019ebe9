"""Grafana dashboards for otc-agent, generated from code.

``python -m agent.dashboards grafana/dashboards`` writes the JSON files Grafana provisions;
``--check`` reports files that differ from what this package generates.
"""

from __future__ import annotations

from agent.dashboards.definitions import build_all
from agent.dashboards.layout import render
from agent.dashboards.promql import queries, to_promql

__all__ = ["build_all", "queries", "render", "to_promql"]
