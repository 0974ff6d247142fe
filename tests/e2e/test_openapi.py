"""The OpenAPI 3.1 document: served by the app without a key (and nothing else is), holding
nothing of the deployment, valid, naming every HTTP function, and the app's real answers (and
the callback the website receives) fit its schemas."""

from __future__ import annotations

import json

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate

from devhost.functions import index_functions, load_app_object
from shared.api.openapi import openapi_document
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def document(operator_app) -> dict:
    """The document as a newcomer reads it: without a key."""
    answer = requests.get(f"{operator_app.host.base_url}/api/openapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    return answer.json()


def test_the_document_needs_no_key_and_says_which_the_others_need(document, operator_app):
    url = f"{operator_app.host.base_url}/api/openapi.json"
    for key in (operator_app.host.function_key, "not-a-key"):  # a key changes nothing
        assert requests.get(url, params={"code": key}, timeout=30).json() == document
    operations = {(path, method): operation for path, operations in document["paths"].items()
                  for method, operation in operations.items()}
    assert operations.pop(("/openapi.json", "get"))["security"] == []
    assert all(operation["security"] and "401" in operation["responses"]
               for operation in operations.values())


def test_the_document_holds_nothing_of_the_deployment(document, operator_app, app_environ):
    # built from the code alone: the same as without any setting, so no key, account, URL or
    # allow-list of this app can be in it
    assert document == openapi_document()
    text = json.dumps(document)
    host = operator_app.host
    for secret in (host.function_key, host.master_key, host.system_key, host.base_url,
                   operator_app.website.token, operator_app.website.url,
                   *(operator_app.azurite.account_key(a) for a in operator_app.azurite.accounts),
                   "127.0.0.1"):
        assert secret not in text


def test_every_other_endpoint_still_needs_its_key(operator_app, app_environ, monkeypatch):
    for name, value in app_environ.items():
        monkeypatch.setenv(name, value)
    index = index_functions(load_app_object(REPO / "function_app.py"))
    levels = {function.name: function.auth_level for function in index.http}
    assert levels.pop("openapi_document") == "ANONYMOUS"
    assert set(levels.values()) <= {"FUNCTION", "ADMIN"}
    for function in index.http:
        if function.name == "openapi_document":
            continue
        path = function.route.replace("{id}", "delivery-1-x")
        for method in function.methods:
            answer = requests.request(method, f"{operator_app.host.base_url}/api/{path}",
                                      json={}, timeout=30)
            assert (answer.status_code, answer.content) == (401, b""), (method, path)


def check(document: dict, schema: str, instance) -> None:
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_http_function_is_described(document, app_environ, monkeypatch):
    for name, value in app_environ.items():
        monkeypatch.setenv(name, value)
    index = index_functions(load_app_object(REPO / "function_app.py"))
    described = {(path, method.upper()) for path, operations in document["paths"].items()
                 for method in operations}
    declared = {(f"/{function.route}", method.upper())
                for function in index.http for method in function.methods}
    assert declared == described


def test_real_answers_and_the_callback_fit_the_schemas(document, operator_app):
    delivery = operator_app.deliver(operator_app.new_delivery({"o.txt": b"openapi"}))
    check(document, "StartAccepted", delivery.answer.json())
    check(document, "DeliveryStatus", delivery.view)
    (post,) = [p for p in operator_app.posts_for(delivery) if p["status"] == 200]
    check(document, "TransferResult", post["body"])
    check(document, "StartPayload", delivery.payload)
    listed = requests.get(f"{operator_app.host.base_url}/api/deliveries",
                          params={"code": operator_app.host.master_key, "top": "2"}, timeout=30)
    check(document, "DeliveryList", listed.json())
    resent = requests.post(
        f"{operator_app.host.base_url}/api/deliveries/{delivery.instance_id}/resend",
        params={"code": operator_app.host.master_key}, timeout=30)
    check(document, "ActionAccepted", resent.json())
    refused = operator_app.post({"Webhook_DeliveryID": -1})
    assert refused.status_code == 400
    check(document, "ErrorAnswer", refused.json())
    with pytest.raises(jsonschema.ValidationError):
        check(document, "StartPayload", {"Source_StorageAccount": 5})
