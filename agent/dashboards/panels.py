"""Panel factories: one function per Grafana panel type, each with the options we use.

Each returns an unplaced `Panel`; the options written are the ones that make the panel render
as intended (legend, stacking, reducer, colour mode), Grafana defaults the rest on load.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.dashboards.builder import (
    GRID_WIDTH,
    JSON,
    Panel,
    Step,
    Target,
    Unit,
    defaults,
    steps,
)

# The reducer every single-value panel uses: the newest non-null point of each series.
_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def timeseries(
    title: str,
    *targets: Target,
    unit: str = Unit.COUNT,
    w: int = 12,
    h: int = 8,
    description: str = "",
    bars: bool = False,
    stack: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    threshold_line: Sequence[Step] | None = None,
    overrides: Sequence[JSON] = (),
    interval: str | None = None,
) -> Panel:
    """A graph; ``threshold_line`` draws its steps as dashed lines (e.g. a 100 bps limit)."""
    custom: JSON = {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if bars else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "dashed" if threshold_line else "off"},
    }
    # A panel sets a minimum interval when its query uses $__interval, so that a narrow time
    # range never asks for a window shorter than a scrape (which would have no two samples).
    extra: JSON = {"interval": interval} if interval else {}
    return Panel(
        "timeseries",
        title,
        targets,
        w,
        h,
        description,
        defaults(
            unit,
            threshold_line,
            colour_mode="palette-classic",
            minimum=minimum,
            maximum=maximum,
        ),
        custom,
        tuple(overrides),
        {
            "legend": {
                "calcs": [],
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        extra,
    )


def stat(
    title: str,
    *targets: Target,
    unit: str = Unit.COUNT,
    w: int = 3,
    h: int = 4,
    description: str = "",
    levels: Sequence[Step] | None = None,
    mappings: list[JSON] | None = None,
    background: bool = False,
    text: str = "auto",
    sparkline: bool = False,
    decimals: int | None = None,
    no_value: str | None = None,
    overrides: Sequence[JSON] = (),
    colour_mode: str = "thresholds",
    repeat: str | None = None,
) -> Panel:
    """A big number per series; ``repeat`` clones it once per value of a template variable."""
    # A repeated panel is cloned side by side across the full width (six to a line at most).
    extra: JSON = {"maxPerRow": 6, "repeat": repeat, "repeatDirection": "h"} if repeat else {}
    return Panel(
        "stat",
        title,
        targets,
        GRID_WIDTH if repeat else w,
        h,
        description,
        defaults(
            unit,
            levels,
            colour_mode=colour_mode,
            mappings=mappings,
            decimals=decimals,
            no_value=no_value,
        ),
        {},
        tuple(overrides),
        {
            "colorMode": "background" if background else "value",
            "graphMode": "area" if sparkline else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": _LAST,
            "textMode": text,
            "wideLayout": True,
        },
        extra,
    )


def bargauge(
    title: str,
    *targets: Target,
    unit: str = Unit.COUNT,
    w: int = 8,
    h: int = 8,
    description: str = "",
    levels: Sequence[Step] | None = None,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> Panel:
    """Horizontal bars, one per series, coloured by thresholds (a bar chart of totals)."""
    return Panel(
        "bargauge",
        title,
        targets,
        w,
        h,
        description,
        defaults(
            unit,
            levels or steps("blue"),
            colour_mode="thresholds",
            minimum=minimum,
            maximum=maximum,
        ),
        options={
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": _LAST,
            "showUnfilled": True,
            "valueMode": "color",
        },
    )


def gauge(
    title: str,
    *targets: Target,
    unit: str = Unit.RATIO,
    w: int = 8,
    h: int = 8,
    description: str = "",
    levels: Sequence[Step] | None = None,
    minimum: float = 0,
    maximum: float = 1,
) -> Panel:
    """Dial gauges, one per series, with the threshold bands drawn round the rim."""
    return Panel(
        "gauge",
        title,
        targets,
        w,
        h,
        description,
        defaults(unit, levels, colour_mode="thresholds", minimum=minimum, maximum=maximum),
        options={
            "orientation": "auto",
            "reduceOptions": _LAST,
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
        },
    )


def heatmap(
    title: str,
    target: Target,
    *,
    unit: str = Unit.COUNT,
    w: int = 12,
    h: int = 8,
    description: str = "",
    interval: str | None = None,
) -> Panel:
    """A heatmap of a histogram's buckets; the target must use format "heatmap" by le."""
    # calculate=False: Prometheus already bucketed the data; the panel only draws it.
    options: JSON = {
        "calculate": False,
        "cellGap": 1,
        "color": {"exponent": 0.5, "mode": "scheme", "scale": "exponential", "scheme": "Oranges"},
        "legend": {"show": True},
        "rowsFrame": {"layout": "auto"},
        "tooltip": {"show": True, "yHistogram": True},
        "yAxis": {"axisPlacement": "left", "unit": unit},
    }
    return Panel(
        "heatmap",
        title,
        (target,),
        w,
        h,
        description,
        options=options,
        extra={"interval": interval} if interval else {},
    )


def table(
    title: str,
    *targets: Target,
    unit: str = Unit.COUNT,
    w: int = 12,
    h: int = 8,
    description: str = "",
    value_name: str = "Value",
    sort_by: str | None = None,
) -> Panel:
    """One row per series of instant table-format targets, label columns plus the value."""
    transformations = [
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True}, "renameByName": {"Value": value_name}},
        }
    ]
    sort = [{"desc": True, "displayName": sort_by}] if sort_by else []
    return Panel(
        "table",
        title,
        targets,
        w,
        h,
        description,
        defaults(unit, None, colour_mode="thresholds"),
        options={"cellHeight": "sm", "showHeader": True, "sortBy": sort},
        extra={"transformations": transformations},
    )


def piechart(
    title: str,
    *targets: Target,
    unit: str = Unit.COUNT,
    w: int = 6,
    h: int = 8,
    description: str = "",
) -> Panel:
    """A donut of each series' share, with value and percent in the legend."""
    return Panel(
        "piechart",
        title,
        targets,
        w,
        h,
        description,
        defaults(unit, None, colour_mode="palette-classic"),
        options={
            "displayLabels": ["percent"],
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "values": ["value", "percent"],
            },
            "pieType": "donut",
            "reduceOptions": _LAST,
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def state_timeline(
    title: str,
    *targets: Target,
    w: int = 12,
    h: int = 6,
    description: str = "",
    mappings: list[JSON] | None = None,
    overrides: Sequence[JSON] = (),
    colour_mode: str = "thresholds",
) -> Panel:
    """One band per series over time, coloured by value mapping (up/down) or by override."""
    return Panel(
        "state-timeline",
        title,
        targets,
        w,
        h,
        description,
        defaults(Unit.NONE, None, colour_mode=colour_mode, mappings=mappings),
        {"fillOpacity": 70, "lineWidth": 0},
        tuple(overrides),
        {
            "alignValue": "left",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
            "mergeValues": True,
            "rowHeight": 0.9,
            "showValue": "auto",
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )
