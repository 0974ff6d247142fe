"""An operator's start request: the website's body plus the operator's choices (conflict
policy, moving the source, who is told), checked at the door as the website's is: a 4xx naming
each field, nothing started. Moving is refused where `DDD_MOVE_SOURCES`/`DDD_MOVE_ALWAYS` do
not allow it; a policy other than `fail` and a receiver other than the website are the
operator's to choose (the admin key)."""

from __future__ import annotations

from pydantic import ValidationError

from shared.api.start_request import RequestRefused, read_start_payload, request_problems
from shared.core.config import Settings
from shared.core.options import OPERATOR_FIELDS, DeliveryOptions, OperatorChoices
from shared.core.request import DeliveryRequest, validation_errors


def parse_operator_request(content_type: str | None, body: bytes,
                           settings: Settings) -> tuple[DeliveryRequest, DeliveryOptions]:
    """The request and its options, or RequestRefused with every problem by its field."""
    payload = read_start_payload(content_type, body, OPERATOR_FIELDS)
    request, problems = request_problems(payload, settings.access)
    choices: OperatorChoices | None = None
    try:
        choices = OperatorChoices.model_validate(
            {key: value for key, value in payload.items() if key in OPERATOR_FIELDS})
    except ValidationError as error:
        problems += validation_errors(error)
    if request is None or choices is None or problems:
        raise RequestRefused(400, problems)
    moves_allowed = settings.moves_allowed(request.source_account, request.source_container)
    if choices.move_source and not moves_allowed:
        raise RequestRefused(400, [{
            "field": "Move_Source",
            "message": f"moving is not allowed from '{request.source_account}/"
                       f"{request.source_container}' (DDD_MOVE_SOURCES)"}])
    if choices.report_token_secret is not None and not choices.report_to.startswith("http"):
        raise RequestRefused(400, [{"field": "Report_Token_Secret",
                                    "message": "is for a webhook (Report_To a URL)"}])
    return request, choices.options(settings.moves_always(request.source_account,
                                                         request.source_container))
