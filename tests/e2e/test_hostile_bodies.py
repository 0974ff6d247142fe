"""Hostile bodies of POST /api/deliveries, hand-picked: a content type that is not JSON (415),
a body over 16 KiB (413), bodies that are not one JSON object of valid text (400 naming
`body`); the contract is in `tests/e2e/hostile.py`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import DeliveryApp

from tests.e2e.hostile import (
    GOOD,
    MAX_BODY,
    encode,
    nested,
    payload,
    refused,
    send,
    with_raw_value,
)

# ----- hand-picked: Content-Type (415) ----------------------------------------------------------
WRONG_CONTENT_TYPES = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("text/plain", id="text-plain"),
    pytest.param("text/plain; charset=utf-8", id="text-plain-charset"),
    pytest.param("application/x-www-form-urlencoded", id="form-urlencoded"),
    pytest.param("multipart/form-data; boundary=xyz", id="multipart"),
    pytest.param("text/json", id="text-json"),
    pytest.param("application/jsonx", id="application-jsonx"),
    pytest.param("application/json-patch+json", id="json-patch"),
    pytest.param("application/xml", id="xml"),
    pytest.param("json", id="bare-json"),
    pytest.param("application/jsön", id="non-ascii"),
    pytest.param("text/plain" + "; a=b" * 800, id="long-parameters"),
]


@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
def test_content_type_that_is_not_json_is_415(delivery_app: DeliveryApp,
                                              content_type: str | None) -> None:
    fields = refused(delivery_app, lambda: send(delivery_app, encode(payload()), content_type),
                     415)
    assert fields == {"Content-Type"}


def test_missing_content_type_with_an_empty_body_is_415(delivery_app: DeliveryApp) -> None:
    assert refused(delivery_app, lambda: send(delivery_app, b"", None), 415) == {"Content-Type"}


# ----- hand-picked: size (413) ------------------------------------------------------------------
def padded(size: int) -> bytes:
    """The good payload, padded with trailing whitespace (still valid JSON) to `size` bytes."""
    body = encode(payload())
    return body + b" " * (size - len(body))


OVERSIZED = [
    pytest.param(lambda: padded(MAX_BODY + 1), id="good-json-one-byte-over"),
    pytest.param(lambda: encode(payload(Source_TopLevelFolder="a/" * 9000)), id="long-folder"),
    pytest.param(lambda: b"x" * (1024 * 1024), id="one-MiB-of-garbage"),
    pytest.param(lambda: b"\xff" * (MAX_BODY + 100), id="invalid-utf8-over"),
    pytest.param(lambda: b"[" * 200_000, id="200k-brackets"),
]


@pytest.mark.parametrize("make_body", OVERSIZED)
def test_body_over_16_kib_is_413(delivery_app: DeliveryApp,
                                 make_body: Callable[[], bytes]) -> None:
    body = make_body()
    assert len(body) > MAX_BODY
    assert refused(delivery_app, lambda: send(delivery_app, body), 413) == {"body"}


BAD_BODIES = [
    # not UTF-8
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xff\xfe"'), id="utf8-ff-fe"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xc0\xaf"'), id="utf8-overlong"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xed\xa0\x80"'),
                 id="utf8-encoded-surrogate"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xe2\x82"'),
                 id="utf8-truncated-sequence"),
    pytest.param(b"\xff\xfe{\x00}\x00", id="utf16-le-with-bom"),
    pytest.param(b'{"Source_StorageAccount": "sequencingcore\x80"}', id="utf8-lone-continuation"),
    # not JSON
    pytest.param(b"", id="empty"),
    pytest.param(b"   \r\n\t ", id="whitespace-only"),
    pytest.param(b"not json", id="words"),
    pytest.param(b"{", id="unclosed-brace"),
    pytest.param(b'{"Source_StorageAccount": }', id="missing-value"),
    pytest.param(encode(payload())[:-1] + b",}", id="trailing-comma"),
    pytest.param(b"{'Source_StorageAccount': 'sequencingcore'}", id="single-quotes"),
    pytest.param(encode(payload()) + b"{}", id="two-documents"),
    pytest.param(encode(payload()) + b"\x00", id="trailing-nul"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\\x41"'), id="bad-escape"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\\ud8"'), id="short-u-escape"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\nx"'), id="raw-newline-in-string"),
    # JSON, not an object
    pytest.param(b"[1, 2]", id="array"),
    pytest.param(encode([GOOD]), id="payload-in-an-array"),
    pytest.param(b'"a string"', id="string"),
    pytest.param(b"42", id="number"),
    pytest.param(b"null", id="null"),
    pytest.param(b"true", id="true"),
    # too deep, at any depth (never a RecursionError)
    pytest.param(nested(1_000), id="1000-brackets-closed"),
    pytest.param(b"[" * 1_000, id="1000-brackets-open"),
    pytest.param(b"[" * 16_000, id="16000-brackets-open"),
    pytest.param(nested(8_000), id="8000-brackets-closed"),
    pytest.param(nested(2_000, '{"a":', "}"), id="2000-objects-closed"),
    pytest.param(with_raw_value("Source_FileSystem", nested(1_000)), id="1000-deep-in-a-field"),
    pytest.param(with_raw_value("Webhook_DeliveryID", nested(2_000, '{"a":', "}")),
                 id="2000-deep-objects-in-a-field"),
    pytest.param(encode(payload()).replace(b"{", b'{"Extra": ' + nested(1_000) + b", ", 1),
                 id="1000-deep-in-an-extra-key"),
    # a lone surrogate in a key, or in the value of a key that is not one of the eight fields
    pytest.param(encode({"\ud800": 1, **payload()}), id="surrogate-key"),
    pytest.param(encode({"Sink_TopLevelFolder\udfff": "x", **payload()}),
                 id="surrogate-in-a-look-alike-key"),
    pytest.param(encode({**payload(), "Extra": "\ud800"}), id="surrogate-in-extra-value"),
    pytest.param(encode({**payload(), "Extra": ["ok", {"x": "a\udc00b"}]}),
                 id="surrogate-deep-in-extra-value"),
    pytest.param(encode({**payload(), "Extra": {"\udbff": 1}}), id="surrogate-key-in-extra-value"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_body_is_400_naming_the_body(delivery_app: DeliveryApp, body: bytes) -> None:
    assert len(body) <= MAX_BODY
    assert refused(delivery_app, lambda: send(delivery_app, body)) == {"body"}


@pytest.mark.parametrize("depth", [100_000, 1_000_000])
def test_huge_nesting_is_a_clean_refusal(delivery_app: DeliveryApp, depth: int) -> None:
    """100,000 levels of '[' cannot fit in 16 KiB: the size rule (413) or the depth rule (400)
    may answer first; either way it names the body and is not a RecursionError."""
    for body in (b"[" * depth, nested(depth)):
        assert refused(delivery_app, partial(send, delivery_app, body), {400, 413}) == {"body"}
