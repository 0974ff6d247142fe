"""Standing rules: deliveries that start by themselves when a run completes (plain, no I/O).

A core with a standing arrangement (a lab that receives every run of its instrument, an archive
that mirrors every run) writes a rule; when an instrument's completion flag lands in a run
folder (`RTAComplete.txt` for MiSeq, `RunCompletionStatus.xml` for NextSeq, or `.complete`),
the Event Grid trigger (`endpoints/run_completed.py`) asks `match` which rule it belongs to and
starts that run folder's delivery, once: its instance id comes from the rule and the run folder
(`run_delivery`), so an event delivered again starts nothing.

    DDD_STANDING_RULES = [{"name": "smith-miseq",
        "source": {"account": "sequencingcore", "container": "runs", "prefix": "MiSeq"},
        "flags": ["RTAComplete.txt"],
        "sink": {"account": "labsmith", "container": "incoming", "folder": "miseq/{run}"},
        "move": false, "conflict_policy": "fail",
        "notify": {"kind": "webhook", "webhook": {"url": "https://lims.example.edu/hook"}}}]

A run folder is the folder the flag lies in, directly under `prefix`; `{run}` in the sink
folder is its name. Rules are checked when the app loads (`shared.core.config`): names, flags,
the allow-lists (and `DDD_MOVE_SOURCES` for a rule that moves); a bad rule stops the app with
the rule named, and nothing starts.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable

from pydantic import Field, field_validator, model_validator

from shared.core.access import AccessPolicy, AccessRefused, Side
from shared.core.models import DurableModel
from shared.core.naming import check_account_name, check_container_name, normalize_folder
from shared.core.options import ConflictPolicy, DeliveryOptions, Receiver
from shared.core.request import DELIVERY_ID_TOKEN, DeliveryRequest

RULE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
FLAG_NAME = re.compile(r"[^/\\\x00-\x1f]{1,255}")
# the namespace of the transfer UUIDs of standing rules' deliveries (uuid5 of rule and folder)
RULES_NAMESPACE = uuid.UUID("6f1d8a52-3b1c-4d7e-9a40-2d3c5b7e1f00")


class RuleSource(DurableModel):
    account: str
    container: str
    prefix: str = ""  # run folders lie directly under it ("" : the container's top)

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        return check_account_name(value)

    @field_validator("container")
    @classmethod
    def _container(cls, value: str) -> str:
        return check_container_name(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return normalize_folder(value) if value.strip("/") else ""


class RuleSink(DurableModel):
    account: str
    container: str
    folder: str = "{run}"  # where a run folder goes; {run} is its name

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        return check_account_name(value)

    @field_validator("container")
    @classmethod
    def _container(cls, value: str) -> str:
        return check_container_name(value)

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if "{run}" not in value:
            raise ValueError("must contain {run} (each run folder gets a folder of its own)")
        try:
            value.format(run="run")
        except (KeyError, IndexError, ValueError):
            raise ValueError("must contain no placeholder other than {run}") from None
        normalize_folder(value.format(run="run"))
        return value


class StandingRule(DurableModel):
    name: str
    source: RuleSource
    flags: list[str] = Field(min_length=1)
    sink: RuleSink
    move: bool = False
    conflict_policy: ConflictPolicy = "fail"
    notify: Receiver = Field(default_factory=lambda: Receiver(kind="operators"))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RULE_NAME.fullmatch(value):
            raise ValueError("must be 1 to 32 lowercase letters, digits and '-'")
        return value

    @field_validator("flags")
    @classmethod
    def _flags(cls, flags: list[str]) -> list[str]:
        for flag in flags:
            if not FLAG_NAME.fullmatch(flag) or flag in (".", ".."):
                raise ValueError(f"'{flag}' must be a file name (no '/')")
        return flags

    @model_validator(mode="after")
    def _told(self) -> StandingRule:
        if self.notify.kind == "website":
            raise ValueError("notify: a standing rule's result goes to a webhook or to the "
                             "operators (kind 'webhook' or 'operators'), not the website")
        if self.notify.kind == "webhook" and self.notify.webhook is None:
            raise ValueError("notify: kind 'webhook' needs its webhook (url)")
        return self


class RunCompleted(DurableModel):
    """A completion flag matched by a rule: the run folder to deliver."""

    rule: str
    run_folder: str  # in the source container
    run: str  # its name


def rule_problems(rules: list[StandingRule], access: AccessPolicy,
                  moves_allowed: Callable[[str, str], bool]) -> list[str]:
    """Why each rule could not run here, by its name: places the allow-lists refuse, a move
    where moving is not allowed, two rules with one name."""
    problems: list[str] = []
    seen: set[str] = set()
    for rule in rules:
        where = f"DDD_STANDING_RULES: rule '{rule.name}'"
        if rule.name in seen:
            problems.append(f"{where} is named twice")
        seen.add(rule.name)
        places: tuple[tuple[Side, str, str], ...] = (
            ("source", rule.source.account, rule.source.container),
            ("sink", rule.sink.account, rule.sink.container))
        for side, account, container in places:
            try:
                access.check(side, account, container)
            except AccessRefused as refused:
                problems.append(f"{where}: {refused}")
        if rule.move and not moves_allowed(rule.source.account, rule.source.container):
            problems.append(f"{where} moves its runs, but "
                            f"'{rule.source.account}/{rule.source.container}' is not in "
                            "DDD_MOVE_SOURCES")
    return problems


def match(rules: list[StandingRule], account: str, container: str,
          blob_path: str) -> tuple[StandingRule, RunCompleted] | None:
    """The rule a new blob completes a run for, and the run; None for any other blob."""
    folder, _, name = blob_path.rpartition("/")
    if not folder:
        return None
    parent, _, run = folder.rpartition("/")
    for rule in rules:
        if (rule.source.account, rule.source.container) != (account, container):
            continue
        if name in rule.flags and parent == rule.source.prefix and run:
            return rule, RunCompleted(rule=rule.name, run_folder=folder, run=run)
    return None


BLOB_CREATED = "Microsoft.Storage.BlobCreated"
SUBJECT_PREFIX = "/blobServices/default/containers/"


def created_blob(event_type: str, topic: str, subject: str) -> tuple[str, str, str] | None:
    """The account, container and blob path of a BlobCreated event (topic
    `/subscriptions/…/providers/Microsoft.Storage/storageAccounts/<account>`, subject
    `/blobServices/default/containers/<container>/blobs/<path>`); None for any other event."""
    account = topic.rpartition("/storageAccounts/")[2]
    if event_type != BLOB_CREATED or "/storageAccounts/" not in topic or "/" in account \
            or not subject.startswith(SUBJECT_PREFIX):
        return None
    container, separator, path = subject[len(SUBJECT_PREFIX):].partition("/blobs/")
    if not separator or not container or not path:
        return None
    return account, container, path


def event_filter(rule: StandingRule) -> dict[str, object]:
    """The Event Grid subscription filter (ARM shape) that passes the rule's flags: the Bicep
    builds the same, and devhost's local event source evaluates it."""
    prefix = f"{rule.source.prefix}/" if rule.source.prefix else ""
    return {
        "includedEventTypes": [BLOB_CREATED],
        "subjectBeginsWith": f"{SUBJECT_PREFIX}{rule.source.container}/blobs/{prefix}",
        "advancedFilters": [{"operatorType": "StringEndsWith", "key": "subject",
                             "values": [f"/{flag}" for flag in rule.flags]}],
    }


def event_subscriptions(rules: list[StandingRule], function: str) -> list[dict[str, object]]:
    """One Event Grid subscription per rule, on the rule's source account, delivering to
    `function`: what the deployment creates, and devhost's local Event Grid takes
    (`DEVHOST_EVENT_SUBSCRIPTIONS`)."""
    return [{"name": rule.name, "function": function, "account": rule.source.account,
             "filter": event_filter(rule)} for rule in rules]


def run_delivery(rule: StandingRule, completed: RunCompleted) -> tuple[DeliveryRequest,
                                                                       DeliveryOptions]:
    """The delivery a completed run starts: the same request and ids every time for the same
    rule and run folder (so the same event twice is one delivery)."""
    key = f"{rule.name}/{rule.source.account}/{rule.source.container}/{completed.run_folder}"
    delivery_id = f"{rule.name}.{completed.run}"
    if not DELIVERY_ID_TOKEN.fullmatch(delivery_id):
        delivery_id = f"{rule.name}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    request = DeliveryRequest.model_validate({
        "source_account": rule.source.account, "source_container": rule.source.container,
        "source_folder": completed.run_folder, "sink_account": rule.sink.account,
        "sink_container": rule.sink.container,
        "sink_folder": rule.sink.folder.format(run=completed.run),
        "delivery_id": delivery_id, "transfer_uuid": str(uuid.uuid5(RULES_NAMESPACE, key))})
    options = DeliveryOptions(conflict_policy=rule.conflict_policy, move_source=rule.move,
                              receiver=rule.notify, rule=rule.name)
    return request, options
