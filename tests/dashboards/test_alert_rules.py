"""The Prometheus rules and scrape config under grafana/prometheus/, checked with promtool.

promtool validates syntax and runs alerts.test.yml; the tests here add what it cannot know:
that every alert has a unit test, that rules only name metrics the agent exports (the metrics
table of docs/metrics-and-dashboards.md is the catalogue), and that the scrape job is the one
the rules watch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.prometheus import promtool

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "grafana" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
METRICS_DOC = REPO / "docs" / "metrics-and-dashboards.md"

# A metrics-table row starts with the metric name in backticks: | `otc_agent_x_total` | counter |
TABLE_ROW = re.compile(r"^\|\s*`(otc_agent_[a-z0-9_*]+)`\s*\|\s*([a-z]*)\s*\|", re.MULTILINE)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Metrics that Prometheus itself attaches to every target.
SCRAPE_METRICS = frozenset({"up"})
# PromQL words that look like identifiers but are not metric names.
PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan"}
)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _check(result: Any) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load(ALERTS)["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def exported_metric_names(readme: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Series names from the metrics table, and the prefixes of its wildcard rows."""
    names: set[str] = set()
    prefixes: list[str] = []
    for name, kind in TABLE_ROW.findall(readme):
        if name.endswith("*"):
            prefixes.append(name.rstrip("*"))
        elif kind == "histogram":
            # A histogram is only ever queried through its series, never by its bare name.
            names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
        else:
            names.add(name)
    return frozenset(names), tuple(prefixes)


def metric_names_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression (a lexical scan, enough for these rules)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values may contain anything
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers name labels, not metrics
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations
    # Grouping and matching clauses list label names.
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue  # functions, aggregations, operators and durations
        names.add(word)
    return names


def test_rules_pass_promtool_check() -> None:
    """`promtool check rules alerts.yml` accepts the rule file (syntax, PromQL, templates)."""
    _check(promtool("check", "rules", ALERTS.name, cwd=PROMETHEUS_DIR))


def test_rule_unit_tests_pass() -> None:
    """`promtool test rules alerts.test.yml` passes: each alert fires and stays quiet as tested."""
    _check(promtool("test", "rules", ALERT_TESTS.name, cwd=PROMETHEUS_DIR))


def test_scrape_config_passes_promtool_check() -> None:
    """`promtool check config prometheus.yml` accepts the config and the rule file it loads."""
    _check(promtool("check", "config", CONFIG.name, cwd=PROMETHEUS_DIR))


def test_every_alert_has_a_unit_test() -> None:
    """Each alert in alerts.yml is evaluated by at least one alert_rule_test, so none goes untested."""
    defined = {rule["alert"] for rule in _alerts()}
    tests = _load(ALERT_TESTS)
    assert tests["rule_files"] == [ALERTS.name]
    tested = {
        case["alertname"] for group in tests["tests"] for case in group.get("alert_rule_test", [])
    }
    assert defined, "alerts.yml defines no alert"
    assert defined - tested == set(), f"alerts without a promtool test: {sorted(defined - tested)}"
    assert tested - defined == set(), (
        f"tests of alerts that do not exist: {sorted(tested - defined)}"
    )


def test_every_alert_has_a_firing_case() -> None:
    """Each alert has a test case that expects it to fire, not only cases where it stays quiet."""
    firing = {
        case["alertname"]
        for group in _load(ALERT_TESTS)["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    missing = {rule["alert"] for rule in _alerts()} - firing
    assert not missing, f"alerts never expected to fire in alerts.test.yml: {sorted(missing)}"


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: rule["alert"])
def test_alert_says_how_urgent_and_what_to_do(rule: dict[str, Any]) -> None:
    """Every alert waits a `for`, has severity page or ticket, and a summary and a description."""
    assert rule.get("for"), "an alert without `for` pages on a single bad scrape"
    assert rule.get("labels", {}).get("severity") in ("page", "ticket")
    annotations = rule.get("annotations", {})
    assert annotations.get("summary", "").strip()
    # The description is the runbook in short: what it means and where to look.
    assert len(annotations.get("description", "").split()) >= 15


def test_rules_only_name_exported_metrics() -> None:
    """Every metric a rule queries is in the docs' metrics table (or is Prometheus's `up`)."""
    exported, prefixes = exported_metric_names(METRICS_DOC.read_text())
    assert "otc_agent_intents_total" in exported, "docs metrics table not found or not parsed"
    unknown: dict[str, set[str]] = {}
    for rule in _rules():
        name = rule.get("alert") or rule["record"]
        for metric in metric_names_in(str(rule["expr"])):
            known = metric in exported or metric in SCRAPE_METRICS or metric.startswith(prefixes)
            if not known:
                unknown.setdefault(name, set()).add(metric)
    assert not unknown, f"rules name metrics missing from the metrics table: {unknown}"


def test_annotations_only_mention_exported_metrics() -> None:
    """Metric names quoted in summaries and descriptions (the runbook hints) are in the metrics table."""
    exported, prefixes = exported_metric_names(METRICS_DOC.read_text())
    # In prose a histogram is named by its base name ("compare with otc_agent_x_bps").
    bases = {name.removesuffix(suffix) for name in exported for suffix in HISTOGRAM_SUFFIXES}
    unknown = {
        f"{alert['alert']}: {metric}"
        for alert in _alerts()
        for text in alert.get("annotations", {}).values()
        for metric in re.findall(r"otc_agent_[a-z0-9_]+", text)
        if metric not in exported and metric not in bases and not metric.startswith(prefixes)
    }
    assert not unknown, f"annotations mention metrics missing from the metrics table: {unknown}"


def test_metric_name_scan_finds_names_and_skips_labels() -> None:
    """The expression scan used above sees metric names and ignores labels, functions and durations."""
    expr = (
        'sum by (job, le) (rate(otc_agent_x_bucket{venue="a b"}[5m])) > 0.5'
        " and on (job) up{job='otc-agent'} == 0 or time() - otc_agent_y offset 1h"
    )
    assert metric_names_in(expr) == {"otc_agent_x_bucket", "up", "otc_agent_y"}


def test_recording_rules_use_colons_and_alerts_do_not_query_undefined_ones() -> None:
    """Colons appear only in recording-rule names, and rules only use recorded series that exist."""
    rules = _rules()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    for name in recorded:
        assert ":" in name, f"recording rule {name} should be named level:metric:operations"
    for rule in rules:
        for metric in metric_names_in(str(rule["expr"])):
            if ":" in metric:
                assert metric in recorded, f"{rule.get('alert') or rule['record']} uses {metric}"
    for alert in _alerts():
        assert ":" not in alert["alert"]


def test_agent_down_alert_watches_the_scraped_job() -> None:
    """OtcAgentDown's `up{job=~...}` names exactly the jobs prometheus.yml scrapes the agent and
    its replicas with, and prometheus.yml loads alerts.yml."""
    config = _load(CONFIG)
    assert ALERTS.name in config["rule_files"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    down = next(rule for rule in _alerts() if rule["alert"] == "OtcAgentDown")
    match = re.search(r'up\{job=~"([^"]+)"\}', down["expr"])
    assert match is not None, down["expr"]
    assert set(match.group(1).split("|")) == set(jobs), f"scrape jobs: {sorted(jobs)}"
    targets = [t for sc in jobs["otc-agent"]["static_configs"] for t in sc["targets"]]
    assert targets == ["agent:9108"]
