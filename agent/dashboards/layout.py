"""Grid layout, template variables and the dashboard envelope.

Layout is a shelf packer: panels flow left to right in the order written and wrap to a new
line when the next one would cross the 24th column, so a definition reads top to bottom the way
the dashboard looks. Ids are numbered in the same order, which keeps them stable across runs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass

from agent.dashboards.builder import (
    DATASOURCE,
    GRID_WIDTH,
    JSON,
    PROVISIONED_DATASOURCE_UID,
    SCHEMA_VERSION,
    TAG,
    TITLE_PREFIX,
    Panel,
    Row,
)


@dataclass(frozen=True)
class Variable:
    """A multi-value template variable filled from one label of one metric."""

    name: str
    label: str
    metric: str
    label_name: str

    def to_json(self) -> JSON:
        query = f"label_values({self.metric}, {self.label_name})"
        return {
            # ".*" rather than Grafana's "(a|b|c)" for All: it also matches series that appear
            # after the variable was last refreshed, such as a pool added while watching.
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": DATASOURCE,
            "definition": query,
            "hide": 0,
            "includeAll": True,
            "label": self.label,
            "multi": True,
            "name": self.name,
            "options": [],
            "query": query,
            "refresh": 2,  # on time-range change, so new label values show up
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }


def datasource_variable() -> JSON:
    """The ``datasource`` variable every panel points at, defaulting to the provisioned one."""
    return {
        "current": {
            "selected": False,
            "text": PROVISIONED_DATASOURCE_UID,
            "value": PROVISIONED_DATASOURCE_UID,
        },
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


class _Cursor:
    """Where the next panel goes, and the next free id."""

    def __init__(self) -> None:
        self.next_id = 1

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def place(self, panels: Sequence[Panel], top: int) -> tuple[list[JSON], int]:
        """Lay ``panels`` out from line ``top``; returns them and the first free line below."""
        placed: list[JSON] = []
        x, y, line_height = 0, top, 0
        for panel in panels:
            if not 0 < panel.w <= GRID_WIDTH or panel.h <= 0:
                raise ValueError(f"{panel.title}: size {panel.w}x{panel.h} does not fit the grid")
            if x + panel.w > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            placed.append(panel.to_json(self.take_id(), x, y))
            x += panel.w
            line_height = max(line_height, panel.h)
        return placed, y + line_height


def layout(rows: Sequence[Row]) -> list[JSON]:
    """The ``panels`` list of a dashboard: each row header followed by (or holding) its panels."""
    cursor = _Cursor()
    out: list[JSON] = []
    y = 0
    for section in rows:
        header: JSON = {
            "collapsed": section.collapsed,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "id": cursor.take_id(),
            "panels": [],
            "title": section.title,
            "type": "row",
        }
        out.append(header)
        y += 1
        placed, bottom = cursor.place(section.panels, y)
        if section.collapsed:
            # Grafana keeps a closed row's panels inside it, positioned as if it were open, and
            # pushes the panels below down when it is opened; closed, it is one line high.
            header["panels"] = placed
        else:
            out.extend(placed)
            y = bottom
    return out


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Row],
    variables: Sequence[Variable] = (),
) -> JSON:
    """A complete dashboard object, as Grafana's file provisioning reads it."""
    board = {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,  # shared crosshair: lining up a spike across panels is the point
        "id": None,  # provisioning assigns the database id; the uid is what links use
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": [TAG],
                "targetBlank": False,
                "title": "otc-agent",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "panels": layout(rows),
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": [TAG],
        "templating": {"list": [datasource_variable(), *(v.to_json() for v in variables)]},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": TITLE_PREFIX + title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
    # Panels share constant pieces (the datasource reference, value mappings); a deep copy keeps
    # a caller who edits one panel of the result from editing every panel that shares them.
    return copy.deepcopy(board)


def render(board: JSON) -> str:
    """The file text for a dashboard: sorted keys and two-space indent, so diffs stay small."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
