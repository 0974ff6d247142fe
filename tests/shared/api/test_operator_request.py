"""An operator's start: the website's body plus the operator's choices, each refused by name;
the website's own start refuses those choices."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.api.operator_request import parse_operator_request
from shared.api.start_request import RequestRefused, parse_start_request
from shared.core.config import Settings, load_settings
from tests.shared.api.test_start_request import GOOD
from tests.shared.core.test_config import REQUIRED

JSON = "application/json"


def settings(**more: str) -> Settings:
    return load_settings({**REQUIRED, **more})


def parse(settings: Settings, **choices: Any) -> Any:
    return parse_operator_request(JSON, json.dumps({**GOOD, **choices}).encode(), settings)


def refused(settings: Settings, **choices: Any) -> dict[str, str]:
    with pytest.raises(RequestRefused) as raised:
        parse(settings, **choices)
    assert raised.value.status == 400
    return {problem["field"]: problem["message"] for problem in raised.value.problems}


def test_without_choices_it_is_the_websites_delivery() -> None:
    request, options = parse(settings())
    assert request.delivery_id == 4321
    assert options.conflict_policy == "fail" and not options.move_source
    assert options.receiver.kind == "website"


def test_each_choice_is_carried() -> None:
    _, options = parse(settings(DDD_MOVE_SOURCES="sequencingcore"),
                       Conflict_Policy="replace-different", Move_Source=True,
                       Report_To="https://lims.example.edu/hook",
                       Report_Token_Secret="lims-token")
    assert options.conflict_policy == "replace-different" and options.move_source
    assert options.receiver.kind == "webhook" and options.receiver.webhook is not None
    assert options.receiver.webhook.url == "https://lims.example.edu/hook"
    assert options.receiver.webhook.token_secret == "lims-token"
    assert parse(settings(), Report_To="operators")[1].receiver.kind == "operators"


def test_a_container_that_always_moves_moves_unless_the_operator_says_not() -> None:
    always = settings(DDD_MOVE_ALWAYS="sequencingcore/deliveries")
    assert parse(always)[1].move_source is True
    assert parse(always, Move_Source=False)[1].move_source is False


def test_moving_where_it_is_not_allowed_is_refused() -> None:
    problems = refused(settings(DDD_MOVE_SOURCES="sequencingcore/other"), Move_Source=True)
    assert "DDD_MOVE_SOURCES" in problems["Move_Source"]


def test_bad_choices_are_named_with_the_websites_bad_fields() -> None:
    problems = refused(settings(), Conflict_Policy="overwrite", Move_Source="yes",
                       Report_To="http://lims.example.edu/", Report_Token_Secret="no/slash",
                       Sink_FileSystem="Bad_Name")
    assert set(problems) == {"Conflict_Policy", "Move_Source", "Report_To",
                             "Report_Token_Secret", "Sink_FileSystem"}
    assert "https://" in problems["Report_To"]


def test_a_token_secret_without_a_webhook_is_refused() -> None:
    assert "webhook" in refused(settings(), Report_Token_Secret="lims-token")[
        "Report_Token_Secret"]


@pytest.mark.parametrize("choice", [{"Conflict_Policy": "merge"}, {"Move_Source": True},
                                    {"Report_To": "operators"}])
def test_the_websites_start_refuses_an_operators_choice(choice: dict[str, Any]) -> None:
    with pytest.raises(RequestRefused) as raised:
        parse_start_request(JSON, json.dumps({**GOOD, **choice}).encode(), settings().access)
    [problem] = raised.value.problems
    assert problem["field"] == next(iter(choice))
    assert "/api/operator/deliveries" in problem["message"]
