"""The alert on failed deliveries counts exactly the log lines the app writes for them."""

from __future__ import annotations

import json
import re

from deployment import REPO_ROOT

from shared.operations.notify import ALWAYS_MAILED
from shared.operations.telemetry import PREFIX

ALERTS = REPO_ROOT / "infra" / "modules" / "alerts.bicep"
MAIN = REPO_ROOT / "infra" / "main.bicep"


def test_the_alert_query_matches_the_outcome_lines_the_app_logs():
    query = re.search(r"query: '([^']+)'", ALERTS.read_text()).group(1)
    assert f'message startswith "{PREFIX}delivery.outcome "' in query
    listed = set(re.findall(r'"([a-z-]+)"', query.split(" in (", 1)[1].split(")")[0]))
    assert listed == set(ALWAYS_MAILED)


def test_the_alert_goes_to_the_operators_address_only_when_one_is_given():
    text = MAIN.read_text()
    assert re.search(r"module alerts 'modules/alerts\.bicep' = if \(notificationsEnabled\)", text)
    assert "operatorEmail: notificationEmail" in text


def test_outcome_lines_are_never_sampled_away():
    """The alert counts trace lines: Application Insights sampling must not drop them."""
    host = json.loads((REPO_ROOT / "host.json").read_text())
    excluded = host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"]
    assert "Trace" in excluded.split(";")
