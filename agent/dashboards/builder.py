"""Core types of the Grafana dashboard builder (Grafana 10/11, schemaVersion 39).

Targets, panels and rows, units and the small field-config helpers. Panels are described by
size and content only (`panels` has one factory per panel type); `layout.dashboard()` places
them on Grafana's 24-column grid and numbers them, so a definition never carries hand-counted coordinates or
ids that drift when a panel is added. Only the JSON fields Grafana needs to render a panel the
way we want are written: Grafana fills every other option with its own default on load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

GRID_WIDTH = 24
# Every panel and target points at the dashboard's datasource variable, so the same files work
# against the provisioned Prometheus and against any other one a user picks.
DATASOURCE: JSON = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONED_DATASOURCE_UID = "otc-agent-prometheus"
TAG = "otc-agent"
TITLE_PREFIX = "otc-agent · "
SCHEMA_VERSION = 39


class Unit:
    """Grafana unit ids; custom ``suffix:`` units where Grafana has no unit of its own."""

    BPS = "suffix: bps"
    USD = "currencyUSD"
    SECONDS = "s"
    LAMPORTS = "none"  # Grafana has no lamports unit; the panel title names it.
    RATIO = "percentunit"  # ratios are exported 0-1, Grafana shows them as percent
    PER_SECOND = "suffix:/s"  # events per second: "ops" would read as operations
    REQUESTS_PER_SECOND = "reqps"
    BYTES = "bytes"
    COUNT = "short"
    NONE = "none"


@dataclass(frozen=True)
class Target:
    """One query of a panel; refIds are given by position when the panel is rendered."""

    expr: str
    legend: str = ""
    instant: bool = False
    # "time_series", "table" (one row per series) or "heatmap" (de-accumulated buckets).
    format: str = "time_series"

    def to_json(self, ref_id: str) -> JSON:
        return {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "format": self.format,
            "instant": self.instant,
            "legendFormat": self.legend,
            "range": not self.instant,
            "refId": ref_id,
        }


Step = tuple[str, float | None]


def steps(base: str, *rest: tuple[float, str]) -> tuple[Step, ...]:
    """Absolute threshold steps: a base colour, then (value, colour) pairs in rising order."""
    return ((base, None), *((colour, value) for value, colour in rest))


def value_map(texts: Mapping[int, tuple[str, str]]) -> list[JSON]:
    """Value mappings from a number to (text, colour), e.g. 1 -> ("up", "green")."""
    options = {
        str(value): {"color": colour, "index": index, "text": text}
        for index, (value, (text, colour)) in enumerate(sorted(texts.items()))
    }
    return [{"options": options, "type": "value"}]


def colour_by_name(pattern: str, colour: str) -> JSON:
    """Override: a fixed colour for every series whose display name matches ``pattern``."""
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [{"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}}],
    }


def right_axis(ref_id: str, unit: str) -> JSON:
    """Override: put one query's series on a right-hand axis with its own unit."""
    return {
        "matcher": {"id": "byFrameRefID", "options": ref_id},
        "properties": [
            {"id": "unit", "value": unit},
            {"id": "custom.axisPlacement", "value": "right"},
        ],
    }


@dataclass(frozen=True)
class Panel:
    """A panel before layout: what it shows and how big it is, not where it sits."""

    kind: str
    title: str
    targets: tuple[Target, ...]
    w: int
    h: int
    description: str = ""
    defaults: JSON = field(default_factory=dict)
    custom: JSON = field(default_factory=dict)
    overrides: tuple[JSON, ...] = ()
    options: JSON = field(default_factory=dict)
    extra: JSON = field(default_factory=dict)

    def to_json(self, panel_id: int, x: int, y: int) -> JSON:
        refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if len(self.targets) > len(refs):
            raise ValueError(f"{self.title}: too many targets")
        defaults = dict(self.defaults)
        if self.custom:
            defaults["custom"] = self.custom
        return {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "gridPos": {"h": self.h, "w": self.w, "x": x, "y": y},
            "id": panel_id,
            "options": self.options,
            "targets": [t.to_json(refs[i]) for i, t in enumerate(self.targets)],
            "title": self.title,
            "type": self.kind,
            **self.extra,
        }


def thresholds(levels: Sequence[Step]) -> JSON:
    return {
        "mode": "absolute",
        "steps": [{"color": colour, "value": value} for colour, value in levels],
    }


def defaults(
    unit: str,
    levels: Sequence[Step] | None,
    *,
    colour_mode: str,
    minimum: float | None = None,
    maximum: float | None = None,
    mappings: list[JSON] | None = None,
    decimals: int | None = None,
    no_value: str | None = None,
) -> JSON:
    colour: JSON = {"mode": colour_mode}
    if colour_mode == "fixed":
        # Series no override names (a source added later) still get a visible, neutral colour.
        colour["fixedColor"] = "blue"
    defaults: JSON = {
        "color": colour,
        "mappings": mappings or [],
        "thresholds": thresholds(levels or steps("green")),
        "unit": unit,
    }
    optional = {"min": minimum, "max": maximum, "decimals": decimals, "noValue": no_value}
    defaults.update({key: value for key, value in optional.items() if value is not None})
    return defaults


@dataclass(frozen=True)
class Row:
    """A titled band of panels. A collapsed row holds its panels inside itself until opened."""

    title: str
    panels: tuple[Panel, ...]
    collapsed: bool = False


def row(title: str, *panels: Panel, collapsed: bool = False) -> Row:
    return Row(title, panels, collapsed)
