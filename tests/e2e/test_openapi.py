"""The OpenAPI 3.1 document: served by the app, valid, naming every HTTP function, and the
app's real answers (and the callback the website receives) fit its schemas."""

from __future__ import annotations

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate

from devhost.functions import index_functions, load_app_object
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def document(operator_app) -> dict:
    url = f"{operator_app.host.base_url}/api/openapi.json"
    assert requests.get(url, timeout=30).status_code == 401
    answer = requests.get(url, params={"code": operator_app.host.function_key}, timeout=30)
    assert answer.status_code == 200
    return answer.json()


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
