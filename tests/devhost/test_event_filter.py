"""An Event Grid subscription's filter, evaluated as "Understand event filtering for Event Grid
subscriptions" documents it (https://learn.microsoft.com/azure/event-grid/event-filtering):
event types; subject prefix and suffix, ignoring case unless isSubjectCaseSensitive; advanced
filters ANDed, their values ORed (ANDed for the Not operators), string comparisons ignoring
case, arrays only with enableAdvancedFilteringOnArrays."""

import pytest

from devhost.event_filter import FilterError, matches

EVENT = {
    "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a",
    "subject": "/blobServices/default/containers/Runs/blobs/2024/run.json",
    "eventType": "Microsoft.Storage.BlobCreated",
    "id": "1",
    "data": {"api": "PutBlockList", "contentLength": 524288, "tags": ["a", "b"],
             "nested": {"flag": True}},
    "dataVersion": "",
}


def test_event_types_and_subject():
    assert matches(EVENT, None)
    assert matches(EVENT, {"includedEventTypes": ["Microsoft.Storage.BlobCreated"]})
    assert matches(EVENT, {"includedEventTypes": ["All"]})
    assert not matches(EVENT, {"includedEventTypes": ["Microsoft.Storage.BlobDeleted"]})
    assert matches(EVENT, {"subjectBeginsWith": "/blobservices/default/containers/runs/",
                           "subjectEndsWith": ".JSON"})
    assert not matches(EVENT, {"subjectBeginsWith": "/blobservices/default/containers/runs/",
                               "isSubjectCaseSensitive": True})
    assert not matches(EVENT, {"subjectEndsWith": ".txt"})


@pytest.mark.parametrize("advanced, expected", [
    ({"operatorType": "StringEndsWith", "key": "subject", "values": [".txt", "RUN.JSON"]}, True),
    ({"operatorType": "StringBeginsWith", "key": "Subject", "values": ["/x"]}, False),
    ({"operatorType": "StringIn", "key": "data.api", "values": ["putblob", "putblocklist"]},
     True),
    ({"operatorType": "StringNotIn", "key": "data.api", "values": ["PutBlob", "PutBlockList"]},
     False),
    ({"operatorType": "StringNotIn", "key": "data.api", "values": ["PutBlob"]}, True),
    ({"operatorType": "StringContains", "key": "subject", "values": ["/2024/"]}, True),
    ({"operatorType": "StringNotContains", "key": "subject", "values": ["/2023/", "/2024/"]},
     False),
    ({"operatorType": "NumberGreaterThanOrEquals", "key": "data.contentLength", "value": 5},
     True),
    ({"operatorType": "NumberLessThan", "key": "data.contentLength", "value": 5}, False),
    ({"operatorType": "NumberInRange", "key": "data.contentLength", "values": [[0, 10**6]]},
     True),
    ({"operatorType": "BoolEquals", "key": "data.nested.flag", "value": True}, True),
    ({"operatorType": "IsNullOrUndefined", "key": "data.missing"}, True),
    ({"operatorType": "IsNotNull", "key": "data.api"}, True),
    ({"operatorType": "StringIn", "key": "data.tags", "values": ["a"]}, False),
])
def test_advanced_filters(advanced, expected):
    assert matches(EVENT, {"advancedFilters": [advanced]}) is expected


def test_advanced_filters_are_anded_and_arrays_need_the_flag():
    both = [{"operatorType": "StringIn", "key": "data.api", "values": ["PutBlockList"]},
            {"operatorType": "StringEndsWith", "key": "subject", "values": [".txt"]}]
    assert not matches(EVENT, {"advancedFilters": both})
    on_arrays = {"enableAdvancedFilteringOnArrays": True, "advancedFilters": [
        {"operatorType": "StringIn", "key": "data.tags", "values": ["b"]}]}
    assert matches(EVENT, on_arrays)
    with pytest.raises(FilterError):
        matches(EVENT, {"advancedFilters": [{"operatorType": "Nonsense", "key": "id"}]})
