"""The standing rules (admin key): `GET /api/operator/rules` lists them with the Event Grid
filter each needs; `GET /api/operator/rules/test?account=&container=&path=` says what a flag
blob at that path would start (the rule, the delivery's ids and folders, its options, and
whether that delivery already exists), starting nothing."""

import azure.durable_functions as df
import azure.functions as func

from endpoints.answers import json_answer
from shared.core.config import SettingsError, load_settings
from shared.core.instances import instance_id_for
from shared.core.rules import event_filter, match, run_delivery

LIST_NAME = "list_rules"
TEST_NAME = "test_rule"
ROUTE = "operator/rules"
TEST_ROUTE = "operator/rules/test"
TEST_PARAMETERS = ("account", "container", "path")
bp = df.Blueprint()


@bp.function_name(LIST_NAME)
@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def list_rules(req: func.HttpRequest) -> func.HttpResponse:
    try:
        rules = load_settings().standing_rules
    except SettingsError as error:
        return json_answer({"error": "The settings are invalid.", "settings": error.problems},
                           500)
    return json_answer({"rules": [{**rule.to_json(), "event_filter": event_filter(rule)}
                                  for rule in rules]})


@bp.function_name(TEST_NAME)
@bp.route(route=TEST_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def test_rule(req: func.HttpRequest,
                    client: df.DurableOrchestrationClient) -> func.HttpResponse:
    missing = [name for name in TEST_PARAMETERS if not req.params.get(name)]
    if missing:
        return json_answer({"error": f"Give {', '.join(missing)}: the flag blob's account, "
                                     "container and path.",
                            "errors": [{"field": name, "message": "is required"}
                                       for name in missing]}, 400)
    try:
        rules = load_settings().standing_rules
    except SettingsError as error:
        return json_answer({"error": "The settings are invalid.", "settings": error.problems},
                           500)
    account, container, path = (req.params[name] for name in TEST_PARAMETERS)
    matched = match(rules, account, container, path.strip("/"))
    if matched is None:
        return json_answer({"starts": None, "message": "No rule takes this blob: nothing "
                            "would start."})
    rule, completed = matched
    request, options = run_delivery(rule, completed)
    instance_id = instance_id_for(request)
    existing = await client.get_status(instance_id)
    runtime = existing.runtime_status.value if existing and existing.runtime_status else None
    return json_answer({"starts": {
        "rule": rule.name, "run_folder": completed.run_folder, "instance_id": instance_id,
        "request": request.to_json(), "options": options.to_json(),
        "existing": runtime,
        "message": (f"Already started ({runtime}): a flag landing again starts nothing."
                    if runtime else "A flag landing here would start this delivery.")}})
