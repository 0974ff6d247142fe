"""A move's delete of one planned source file, against Azurite: the planned version goes, a
changed one stays, and one already gone (an earlier try of the call removed it) counts as
removed, whether storage answers that 404 or 412."""

from __future__ import annotations

from shared.source.move import delete_planned
from tests.shared.delivery_setup import Delivery


def test_the_planned_version_goes_and_a_changed_one_stays(delivery: Delivery) -> None:
    name = delivery.seed("a.txt", b"planned")
    planned = delivery.source.get_blob_client(name).get_blob_properties().etag
    delivery.seed("a.txt", b"changed since")
    assert delete_planned(delivery.source, name, planned) is False
    assert delivery.source.get_blob_client(name).exists()
    current = delivery.source.get_blob_client(name).get_blob_properties().etag
    assert delete_planned(delivery.source, name, current) is True
    assert not delivery.source.get_blob_client(name).exists()


def test_a_file_already_gone_counts_as_removed(delivery: Delivery) -> None:
    name = delivery.seed("b.txt", b"planned")
    planned = delivery.source.get_blob_client(name).get_blob_properties().etag
    delivery.source.delete_blob(name)  # the killed try's delete had landed
    assert delete_planned(delivery.source, name, planned) is True
