"""What callers send: the website's start request (and a dry run's, the same), and the source
folder a project summary or a share names, with the website's key names and rules.

Each model checks the names as Azure and the website have them (`shared.core.naming`); a
refusal names the field by the website's key (`validation_errors`). The storage allow-lists
are checked where the request is read (`shared.api`) and again where the work is done.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from shared.core.models import DurableModel
from shared.core.naming import (
    check_account_name,
    check_container_name,
    folder_contains,
    normalize_folder,
)

# ----- the website's request -----------------------------------------------------------------
DELIVERY_ID_MAX = 2**63 - 1


# a delivery id sent as a string: a short printable token
DELIVERY_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


# the 8-4-4-4-12 hex form, in either case (the website sends lowercase)
TRANSFER_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class DeliveryRequest(DurableModel):
    """The website's start payload, under snake_case names.

    Validated by the website's key names (aliases); also built from the snake_case names, which
    is what `to_json` writes. The delivery id and the transfer UUID are kept exactly as sent,
    so the result echoes them back unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    source_account: str = Field(alias="Source_StorageAccount")
    source_container: str = Field(alias="Source_FileSystem")
    source_folder: str = Field(alias="Source_TopLevelFolder")
    sink_account: str = Field(alias="Sink_StorageAccount")
    sink_container: str = Field(alias="Sink_FileSystem")
    sink_folder: str = Field(alias="Sink_TopLevelFolder")
    delivery_id: int | str = Field(alias="Webhook_DeliveryID")
    transfer_uuid: str = Field(alias="Webhook_TransferUUID")

    @field_validator("source_account", "sink_account", mode="before")
    @classmethod
    def _check_account(cls, value: Any) -> Any:
        return check_account_name(value) if isinstance(value, str) else value

    @field_validator("source_container", "sink_container", mode="before")
    @classmethod
    def _check_container(cls, value: Any) -> Any:
        return check_container_name(value) if isinstance(value, str) else value

    @field_validator("source_folder", mode="before")
    @classmethod
    def _check_source_folder(cls, value: Any) -> Any:
        return normalize_folder(value) if isinstance(value, str) else value

    @field_validator("sink_folder", mode="before")
    @classmethod
    def _check_sink_folder(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        sink_folder = normalize_folder(value)
        source = info.data
        same_place = (
            source.get("source_account") is not None
            and source.get("source_account") == source.get("sink_account")
            and source.get("source_container") is not None
            and source.get("source_container") == source.get("sink_container")
        )
        source_folder = source.get("source_folder")
        if same_place and source_folder is not None:
            if sink_folder == source_folder:
                raise ValueError("must not be the source folder itself")
            if folder_contains(source_folder, sink_folder):
                raise ValueError("must not lie inside the source folder")
            if folder_contains(sink_folder, source_folder):
                raise ValueError("must not contain the source folder")
        return sink_folder

    @field_validator("delivery_id", mode="before")
    @classmethod
    def _check_delivery_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= DELIVERY_ID_MAX:
            return value
        if isinstance(value, str) and DELIVERY_ID_TOKEN.fullmatch(value):
            return value
        raise ValueError(
            "must be a positive integer, or a string of 1 to 64 letters, digits, '.', '_' or "
            "'-' starting with a letter or digit"
        )

    @field_validator("transfer_uuid", mode="before")
    @classmethod
    def _check_transfer_uuid(cls, value: Any) -> Any:
        if not isinstance(value, str) or not TRANSFER_UUID.fullmatch(value):
            raise ValueError("must be a UUID string (8-4-4-4-12 hexadecimal digits)")
        return value

    def source_path(self, relative_path: str) -> str:
        return f"{self.source_folder}/{relative_path}"

    def sink_path(self, relative_path: str) -> str:
        return f"{self.sink_folder}/{relative_path}"


def validation_errors(error: ValidationError) -> list[dict[str, str]]:
    """One {"field", "message"} per problem, the field named by the website's key.

    A problem with the body as a whole (not a JSON object) is reported as field "body".
    """
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        location = problem["loc"]
        field = str(location[0]) if location else "body"
        if problem["type"] == "missing":
            message = "is required"
        elif problem["type"] == "model_type":
            message = "must be a JSON object"
        else:
            message = problem["msg"].removeprefix("Value error, ")
        problems.append({"field": field, "message": message})
    return problems


class SourceFolderRequest(BaseModel):
    """A folder of an allowed source, under the website's key names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    source_account: str = Field(alias="Source_StorageAccount")
    source_container: str = Field(alias="Source_FileSystem")
    source_folder: str = Field(alias="Source_TopLevelFolder")

    @field_validator("source_account", mode="before")
    @classmethod
    def _check_account(cls, value: Any) -> Any:
        return check_account_name(value) if isinstance(value, str) else value

    @field_validator("source_container", mode="before")
    @classmethod
    def _check_container(cls, value: Any) -> Any:
        return check_container_name(value) if isinstance(value, str) else value

    @field_validator("source_folder", mode="before")
    @classmethod
    def _check_folder(cls, value: Any) -> Any:
        return normalize_folder(value) if isinstance(value, str) else value


class ShareRequest(SourceFolderRequest):
    """A share of a source folder: read-only links that expire after `expires_in_seconds`."""

    expires_in_seconds: StrictInt = Field(alias="Share_ExpiresInSeconds", ge=1)
