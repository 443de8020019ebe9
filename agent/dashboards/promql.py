"""PromQL helpers for the dashboard definitions, and the functions that read queries back out.

The helpers only build strings; they exist so that every panel aggregates the same way
(``sum by`` before ``histogram_quantile``, zero rather than "no data" in ratios whose numerator
has no series yet) instead of each definition spelling it slightly differently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Grafana's own variables, as written in queries. $__rate_interval is at least four scrape
# intervals, so rate() always has two samples; $__range is the dashboard's whole time range.
RATE_WINDOW = "$__rate_interval"
RANGE = "$__range"
INTERVAL = "$__interval"

# What to_promql() puts in place of Grafana's variables: any valid duration will do for
# parsing, and these are the values Grafana itself would use for a 1 h range at a 15 s scrape.
_BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
# $name, ${name} and ${name:format}; names start with a letter or "_" so "$1" (a regex group
# reference in label_replace) is never mistaken for one.
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")
# A regex matcher's quoted value, the only place a template variable may stand: Grafana's
# "All" (allValue ".*") and multi-value "(a|b)" are both regexes.
_REGEX_MATCHER = re.compile(r'=~\s*"((?:[^"\\]|\\.)*)"')


def _group(by: str) -> str:
    return f" by ({by})" if by else ""


def _selector(metric: str, match: str) -> str:
    return f"{metric}{{{match}}}" if match else metric


def rate(metric: str, by: str = "", match: str = "", window: str = RATE_WINDOW) -> str:
    """Per-second rate of a counter, summed over everything but the ``by`` labels."""
    return f"sum{_group(by)} (rate({_selector(metric, match)}[{window}]))"


def increase(metric: str, by: str = "", match: str = "", window: str = RANGE) -> str:
    """Counter increase over ``window`` (the whole dashboard range unless told otherwise)."""
    return f"sum{_group(by)} (increase({_selector(metric, match)}[{window}]))"


def quantile(
    q: float, histogram: str, by: str = "", match: str = "", window: str = RATE_WINDOW
) -> str:
    """The q-quantile of a histogram over ``window``, per ``by`` label set.

    Over $__range this is the quantile of every observation in the dashboard's range. It is
    also how a typical value is shown for histograms with negative buckets (slippage, savings):
    client_python exports no ``_sum`` for those, so no mean can be taken from _sum / _count.
    """
    labels = f"le, {by}" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({labels}) "
        f"(rate({_selector(histogram + '_bucket', match)}[{window}])))"
    )


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, 0 where only the numerator is missing, absent where den is 0.

    A label set with attempts but no successes yet must read 0, not "no data"; a label set with
    no attempts at all must not read as 0 % (nor NaN), so it is dropped.
    """
    return f"({numerator} or {denominator} * 0) / ({denominator} > 0)"


def percentile_name(q: float) -> str:
    """0.95 -> "p95", for legends."""
    return f"p{round(q * 100):d}"


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        # A collapsed row carries its panels inside itself rather than after it.
        yield from _panels(panel.get("panels", []))


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, including those inside rows."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def to_promql(expr: str) -> str:
    """The query with Grafana's variables replaced, so Prometheus tools can parse it.

    Built-in interval variables become fixed durations; template variables become ``.*`` inside
    ``=~"..."`` matchers. Any other variable raises ValueError: it would only work in Grafana.
    """

    def in_matcher(match: re.Match[str]) -> str:
        return '=~"' + _VARIABLE.sub(".*", match.group(1)) + '"'

    def builtin(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in _BUILTINS:
            raise ValueError(f"variable ${name} cannot be evaluated outside Grafana: {expr}")
        return _BUILTINS[name]

    return _VARIABLE.sub(builtin, _REGEX_MATCHER.sub(in_matcher, expr))
