"""Durable instance ids of deliveries, and telling attempts of one delivery apart.

One instance per (delivery id, transfer UUID): the same POST twice is one run; a new attempt
of the same delivery (the website's restart: a new UUID) is another instance, which stops the
earlier running ones of the same delivery, source and sink.
"""

from __future__ import annotations

from typing import Any

from shared.core.options import DeliveryOptions
from shared.core.request import TRANSFER_UUID, DeliveryRequest

# the operators' key of each option, for a refusal that names it
OPTION_FIELDS = {"conflict_policy": "Conflict_Policy", "move_source": "Move_Source",
                 "receiver": "Report_To", "rule": "rule"}


def attempts_prefix(request: DeliveryRequest) -> str:
    """What the instance id of every attempt of this delivery starts with."""
    return f"delivery-{request.delivery_id}-"


def is_earlier_attempt(request: DeliveryRequest, instance_id: str) -> bool:
    """True for another attempt of the same delivery (the prefix alone would also match a
    delivery id that extends this one, such as 12-a for 12)."""
    prefix = attempts_prefix(request)
    return (instance_id.startswith(prefix) and instance_id != instance_id_for(request)
            and TRANSFER_UUID.fullmatch(instance_id[len(prefix):]) is not None)


def is_same_delivery(request: DeliveryRequest, earlier_input: Any) -> bool:
    """True when an earlier attempt's orchestration input (a DeliveryRun) is the same delivery:
    same delivery id, source and sink. Only such an attempt is stopped by a new one, whose plan
    can then adopt its folder."""
    if not isinstance(earlier_input, dict) or not isinstance(earlier_input.get("request"), dict):
        return False
    earlier = earlier_input["request"]
    return str(earlier.get("delivery_id")) == str(request.delivery_id) and all(
        earlier.get(name) == getattr(request, name)
        for name in ("source_account", "source_container", "source_folder",
                     "sink_account", "sink_container", "sink_folder"))


def differing_fields(request: DeliveryRequest, earlier_input: Any) -> list[str]:
    """The website's names of the fields in which `request` differs from the request an
    instance of the same delivery id and transfer UUID was started with (none for an
    instance whose input is not a delivery's)."""
    if not isinstance(earlier_input, dict) or not isinstance(earlier_input.get("request"), dict):
        return []
    earlier = earlier_input["request"]
    differing = []
    for name, field in DeliveryRequest.model_fields.items():
        before, now = earlier.get(name), getattr(request, name)
        if name == "transfer_uuid":
            same = str(before).lower() == str(now).lower()
        elif name == "delivery_id":
            same = str(before) == str(now)
        else:
            same = before == now
        if not same:
            differing.append(field.alias or name)
    return differing


def differing_options(options: DeliveryOptions, earlier_input: Any) -> list[str]:
    """The operators' names of the options in which `options` differ from those the instance
    was started with (an input written before options existed had the defaults)."""
    if not isinstance(earlier_input, dict) or not isinstance(earlier_input.get("request"), dict):
        return []
    earlier = earlier_input.get("options")
    before = DeliveryOptions.model_validate(earlier) if isinstance(earlier, dict) \
        else DeliveryOptions()
    return [OPTION_FIELDS[name] for name in DeliveryOptions.model_fields
            if getattr(before, name) != getattr(options, name)]


def instance_id_for(request: DeliveryRequest) -> str:
    """One Durable instance per (delivery id, transfer UUID): the same POST twice is one run.

    Both parts are made of letters, digits, '.', '_' and '-' (the request's rules), which an
    instance id may hold; the UUID is lowercased, so either case of it names the same run.
    """
    return f"{attempts_prefix(request)}{request.transfer_uuid.lower()}"
