"""Standing rules: checked when the settings load (a bad rule named, the app refused), which
blob completes which run, and the one delivery each run folder starts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.core.config import SettingsError, load_settings
from shared.core.rules import (
    BLOB_CREATED,
    created_blob,
    event_filter,
    match,
    run_delivery,
)
from tests.shared.core.test_config import REQUIRED

RULE: dict[str, Any] = {
    "name": "smith-miseq",
    "source": {"account": "sequencingcore", "container": "runs", "prefix": "MiSeq"},
    "flags": ["RTAComplete.txt", "CopyComplete.txt"],
    "sink": {"account": "labsmith", "container": "incoming", "folder": "miseq/{run}"},
    "notify": {"kind": "webhook", "webhook": {"url": "https://lims.example.edu/hook"}},
}
TOPIC = ("/subscriptions/0000/resourceGroups/core/providers/Microsoft.Storage/"
         "storageAccounts/sequencingcore")


def settings_with(*rules: dict[str, Any], **more: str) -> Any:
    return load_settings({**REQUIRED, "DDD_STANDING_RULES": json.dumps(list(rules)), **more})


def problems_of(*rules: dict[str, Any], **more: str) -> str:
    with pytest.raises(SettingsError) as raised:
        settings_with(*rules, **more)
    return "\n".join(raised.value.problems)


def test_a_good_rule_loads() -> None:
    [rule] = settings_with(RULE).standing_rules
    assert rule.name == "smith-miseq" and rule.move is False
    assert rule.conflict_policy == "fail" and rule.notify.kind == "webhook"


@pytest.mark.parametrize(("change", "named"), [
    ({"name": "Smith MiSeq"}, "lowercase"),
    ({"flags": []}, "flags"),
    ({"flags": ["run/RTAComplete.txt"]}, "must be a file name"),
    ({"sink": {**RULE["sink"], "folder": "miseq"}}, "must contain {run}"),
    ({"sink": {**RULE["sink"], "folder": "miseq/{run}/{lane}"}}, "no placeholder other"),
    ({"notify": {"kind": "website"}}, "not the website"),
    ({"notify": {"kind": "webhook"}}, "needs its webhook"),
    ({"notify": {"kind": "webhook", "webhook": {"url": "http://lims.example.edu/"}}},
     "https://"),
    ({"conflict_policy": "overwrite"}, "conflict_policy"),
])
def test_a_bad_rule_refuses_the_settings_with_the_problem_named(change: dict[str, Any],
                                                                named: str) -> None:
    problems = problems_of({**RULE, **change})
    assert "DDD_STANDING_RULES" in problems and named in problems


def test_a_rule_outside_the_allow_lists_or_moving_where_moves_are_not_allowed_is_named() -> None:
    outside = {**RULE, "name": "elsewhere", "sink": {**RULE["sink"], "account": "otherlab"}}
    moving = {**RULE, "name": "mover", "move": True}
    problems = problems_of(RULE, outside, moving, RULE)
    assert "rule 'elsewhere'" in problems and "otherlab" in problems
    assert "rule 'mover' moves its runs" in problems and "DDD_MOVE_SOURCES" in problems
    assert "rule 'smith-miseq' is named twice" in problems
    assert settings_with(moving, DDD_MOVE_SOURCES="sequencingcore/runs").standing_rules


def test_rules_that_are_not_json_are_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**REQUIRED, "DDD_STANDING_RULES": "[{name: smith}"})
    assert "DDD_STANDING_RULES" in "\n".join(raised.value.problems)


def test_a_flag_directly_in_a_run_folder_under_the_prefix_matches() -> None:
    [rule] = settings_with(RULE).standing_rules
    matched = match([rule], "sequencingcore", "runs", "MiSeq/240101_M001_0001/RTAComplete.txt")
    assert matched is not None
    assert matched[1].run_folder == "MiSeq/240101_M001_0001"
    assert matched[1].run == "240101_M001_0001"
    for account, container, path in [
        ("sequencingcore", "runs", "MiSeq/240101_M001_0001/Data/RTAComplete.txt"),  # deeper
        ("sequencingcore", "runs", "MiSeq/RTAComplete.txt"),  # no run folder
        ("sequencingcore", "runs", "NextSeq/240101_M001_0001/RTAComplete.txt"),
        ("sequencingcore", "runs", "MiSeq/240101_M001_0001/SampleSheet.csv"),
        ("sequencingcore", "other", "MiSeq/240101_M001_0001/RTAComplete.txt"),
        ("othercore", "runs", "MiSeq/240101_M001_0001/RTAComplete.txt"),
    ]:
        assert match([rule], account, container, path) is None, path


def test_each_run_folder_is_one_delivery_whatever_the_event() -> None:
    [rule] = settings_with(RULE).standing_rules
    first = match([rule], "sequencingcore", "runs", "MiSeq/run-1/RTAComplete.txt")
    again = match([rule], "sequencingcore", "runs", "MiSeq/run-1/CopyComplete.txt")
    other = match([rule], "sequencingcore", "runs", "MiSeq/run-2/RTAComplete.txt")
    assert first and again and other
    request, options = run_delivery(rule, first[1])
    assert run_delivery(rule, again[1])[0] == request
    assert run_delivery(rule, other[1])[0].transfer_uuid != request.transfer_uuid
    assert request.delivery_id == "smith-miseq.run-1"
    assert request.sink_folder == "miseq/run-1" and request.source_folder == "MiSeq/run-1"
    assert options.rule == "smith-miseq" and options.receiver.kind == "webhook"


def test_a_run_name_that_is_no_delivery_id_is_hashed() -> None:
    [rule] = settings_with(RULE).standing_rules
    matched = match([rule], "sequencingcore", "runs", "MiSeq/run 1 (redo)/RTAComplete.txt")
    assert matched is not None
    request, _ = run_delivery(rule, matched[1])
    assert str(request.delivery_id).startswith("smith-miseq.")
    assert " " not in str(request.delivery_id)


def test_blob_created_events_are_read_from_topic_and_subject() -> None:
    subject = "/blobServices/default/containers/runs/blobs/MiSeq/run-1/RTAComplete.txt"
    assert created_blob(BLOB_CREATED, TOPIC, subject) == (
        "sequencingcore", "runs", "MiSeq/run-1/RTAComplete.txt")
    assert created_blob("Microsoft.Storage.BlobDeleted", TOPIC, subject) is None
    assert created_blob(BLOB_CREATED, "/subscriptions/0000", subject) is None
    assert created_blob(BLOB_CREATED, TOPIC, "/blobServices/default/containers/runs") is None


def test_the_event_filter_passes_the_flags_under_the_prefix() -> None:
    [rule] = settings_with(RULE).standing_rules
    assert event_filter(rule) == {
        "includedEventTypes": [BLOB_CREATED],
        "subjectBeginsWith": "/blobServices/default/containers/runs/blobs/MiSeq/",
        "advancedFilters": [{"operatorType": "StringEndsWith", "key": "subject",
                             "values": ["/RTAComplete.txt", "/CopyComplete.txt"]}],
    }
