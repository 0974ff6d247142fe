"""What a delivery may do beyond the website's contract: a conflict policy, moving the source,
and who is told of the result. The website's own calls never choose these (they get the
defaults: `fail`, no move unless the source container always moves, the website told); an
operator's call (admin key) and a standing rule may.

Conflict policy, for a destination folder that already holds files:

- `fail` (default): a destination that holds anything, or another delivery's folder, is refused
  with the website's "already exists";
- `merge`: a file that already verifies there is kept; a missing one is copied; one that differs
  is replaced only when this service wrote it (its block ids name a delivery), else kept and
  named; nothing the service did not write is ever deleted; files there that are not part of
  the delivery are listed in the manifest as present, not delivered;
- `replace-different`: as `merge`, and a file whose MD5 differs is replaced whoever wrote it;
  the manifest records what was replaced (its size, MD5 and ETag before).

Either policy may add to a sealed (delivered) folder: naming it is the operator's decision. A
folder another delivery is still copying into is refused whatever the policy.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from shared.core.models import ConflictPolicy, DurableModel
from shared.core.naming import is_loopback_url

CONFLICT_POLICIES: tuple[ConflictPolicy, ...] = ("fail", "merge", "replace-different")
# a Key Vault secret's name
SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


def check_webhook_url(url: str) -> str:
    if not url.startswith("https://") and not (url.startswith("http://")
                                               and is_loopback_url(url)):
        raise ValueError("must be an https:// URL (http:// only on this machine)")
    return url


class Webhook(DurableModel):
    """A receiver of the result that speaks the website's callback body."""

    url: str
    # the Key Vault secret (or, locally, setting) that holds its `Authorization: Token` value
    token_secret: str | None = None

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        return check_webhook_url(url)


class Receiver(DurableModel):
    """Who hears the result: the website (its contract), a webhook with the same body, or only
    the operators (e-mail and the status)."""

    kind: Literal["website", "webhook", "operators"] = "website"
    webhook: Webhook | None = None


class DeliveryOptions(DurableModel):
    conflict_policy: ConflictPolicy = "fail"
    # delete the source folder's planned files once the result was acknowledged
    move_source: bool = False
    receiver: Receiver = Field(default_factory=Receiver)
    # a standing rule that started it (its name), or None
    rule: str | None = None

    @property
    def looks_first(self) -> bool:
        """The destination may hold files of this delivery's names before it copies."""
        return self.conflict_policy != "fail"


class OperatorChoices(BaseModel):
    """What an operator's start adds to the website's body (`POST /api/operator/deliveries`),
    under key names in the website's style. The website's own start refuses these keys."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    conflict_policy: ConflictPolicy = Field("fail", alias="Conflict_Policy")
    # None: as the source container's setting says (DDD_MOVE_ALWAYS)
    move_source: StrictBool | None = Field(None, alias="Move_Source")
    # "website", "operators", or a webhook's URL (https; http only on this machine)
    report_to: str = Field("website", alias="Report_To")
    # the Key Vault secret holding the webhook's `Authorization: Token` value
    report_token_secret: str | None = Field(None, alias="Report_Token_Secret")

    @field_validator("report_to")
    @classmethod
    def _receiver(cls, value: str) -> str:
        if value in ("website", "operators"):
            return value
        try:
            return check_webhook_url(value)
        except ValueError as error:
            raise ValueError(f"must be 'website', 'operators', or a webhook's URL: {error}") \
                from None

    @field_validator("report_token_secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_NAME.fullmatch(value):
            raise ValueError("must be a Key Vault secret name (1 to 127 letters, digits, '-')")
        return value

    def receiver(self) -> Receiver:
        if self.report_to in ("website", "operators"):
            return Receiver(kind="website" if self.report_to == "website" else "operators")
        return Receiver(kind="webhook", webhook=Webhook(url=self.report_to,
                                                         token_secret=self.report_token_secret))

    def options(self, moves_always: bool) -> DeliveryOptions:
        move = moves_always if self.move_source is None else self.move_source
        return DeliveryOptions(conflict_policy=self.conflict_policy, move_source=move,
                               receiver=self.receiver())


OPERATOR_FIELDS = frozenset(field.alias or name
                            for name, field in OperatorChoices.model_fields.items())
