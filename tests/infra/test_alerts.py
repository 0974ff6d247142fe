"""The alert on failed deliveries counts exactly the log lines the app writes for them, and
alerts once for each."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from deployment import REPO_ROOT, main_scope

from shared.operations.notify import ALWAYS_MAILED
from shared.operations.telemetry import PREFIX


def _rule(given: dict[str, object]) -> dict[str, object]:
    main = main_scope(REPO_ROOT, {**given, "notificationEmail": "ops@example.edu"})
    (alerts,) = main.module_deployments("alerts")
    (rule,) = alerts.scope.file.resources_of_type("Microsoft.Insights/scheduledQueryRules")
    (body,) = alerts.scope.resource_bodies(rule)
    properties = body["properties"]
    assert isinstance(properties, dict)
    return properties


def _query(rule: dict[str, object]) -> str:
    (condition,) = rule["criteria"]["allOf"]  # type: ignore[index]
    return str(condition["query"])


def _duration(iso: object) -> timedelta:
    """An ISO 8601 duration of minutes or hours: PT5M, PT1H."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", str(iso))
    assert match, iso
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))


def _times_alerted(rule: dict[str, object], generated: timedelta, delay: timedelta) -> int:
    """How often the rule alerts for one failure line written at `generated` and queryable
    `delay` later (Application Insights ingestion), evaluations running every frequency."""
    frequency, window = _duration(rule["evaluationFrequency"]), _duration(rule["windowSize"])
    recent = re.search(r"ingestion_time\(\) > ago\((\d+)m\)", _query(rule))
    ingested = generated + delay
    matches = []
    for step in range(1, 20):
        now = frequency * step
        seen = now - window < generated <= now and ingested <= now
        if recent is not None:
            seen = seen and ingested > now - timedelta(minutes=int(recent.group(1)))
        matches.append(seen)
    if rule["autoMitigate"] is True:  # stateful: alerts when the condition starts to hold
        return sum(now and not before for before, now in zip([False, *matches], matches,
                                                            strict=False))
    return sum(matches)


def test_the_alert_query_matches_the_outcome_lines_the_app_logs(given):
    query = _query(_rule(given))
    assert f'message startswith "{PREFIX}delivery.outcome "' in query
    listed = set(re.findall(r'"([a-z-]+)"', query.split(" in (", 1)[1].split(")")[0]))
    assert listed == set(ALWAYS_MAILED)


@pytest.mark.parametrize("delay_minutes", range(0, 11))
def test_one_failure_alerts_once(given, delay_minutes):
    """Each failure line alerts exactly once (the app has mailed it already; the alert is
    the backstop), for lines that reach Application Insights up to 10 minutes late: the rule
    looks back further than it runs often, and counts only lines ingested since its last
    run."""
    rule = _rule(given)
    frequency = _duration(rule["evaluationFrequency"])
    for second in range(0, int(frequency.total_seconds()), 30):
        generated = timedelta(minutes=10, seconds=second)
        assert _times_alerted(rule, generated, timedelta(minutes=delay_minutes)) == 1, (
            f"a line written {generated} and ingested {delay_minutes} min later")


def test_the_alert_goes_to_the_operators_address_only_when_one_is_given(given, main_bicep):
    module = main_bicep.module("alerts")
    assert module.value.type == "if_statement"
    assert main_scope(REPO_ROOT, given).module_deployments("alerts") == []
    (alerts,) = main_scope(REPO_ROOT, {**given, "notificationEmail": "ops@example.edu"}
                           ).module_deployments("alerts")
    assert alerts.scope.lookup("operatorEmail") == "ops@example.edu"


def test_outcome_lines_are_never_sampled_away():
    """The alert counts trace lines: Application Insights sampling must not drop them."""
    host = json.loads((REPO_ROOT / "host.json").read_text())
    excluded = host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"]
    assert "Trace" in excluded.split(";")
