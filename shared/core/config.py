"""The app's settings: read once from the environment, checked all at once, failing fast.

`load_settings()` is the only place in `shared/` that reads the environment. It raises one
`SettingsError` that lists every missing or invalid setting by its environment name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.core.access import AccessList, AccessPolicy
from shared.core.naming import check_account_name, check_container_name, is_loopback_url
from shared.core.operator_settings import operator_problems
from shared.core.readers import FolderReaders
from shared.core.rules import StandingRule, rule_problems

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# Service limits the settings must stay within.
COPY_FROM_URL_MAX_BYTES = 256 * MIB  # synchronous Copy Blob From URL
STAGE_BLOCK_MAX_BYTES = 4000 * MIB  # Put Block From URL
USER_DELEGATION_KEY_MAX_MINUTES = 7 * 24 * 60
# A share's links are signed with one user delegation key, which lasts at most 7 days (less the
# clock skew allowance of its start time).
SHARE_MAX_HOURS_LIMIT = 7 * 24 - 1

# Work units in flight in one delivery by default: one fewer than host.json's activity slots
# (maxConcurrentActivityFunctions 9), so the orchestrator's progress measurement, an activity
# too, finds a free slot at every tick instead of queueing behind copy units.
DEFAULT_PARALLEL_CHUNKS = 8
# A storage outage is waited out for 30 minutes (AzCopy tries a request 20 times, as long).
DEFAULT_OUTAGE_WAIT_MINUTES = 30

PositiveInt = Annotated[int, Field(ge=1)]


class SettingsError(ValueError):
    """One or more settings are missing or invalid; the message lists each by its name."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid settings:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


def _parse_account_keys(value: Any) -> Any:
    """``name:base64key;name2:key2`` -> {name: key}. Keys are base64 (they may hold '=' '/' '+')."""
    if not isinstance(value, str):
        return value
    account_keys: dict[str, str] = {}
    for pair in value.split(";"):
        pair = pair.strip()
        if not pair:
            continue
        account, separator, key = pair.partition(":")
        if not separator or not account.strip() or not key.strip():
            raise ValueError("must be 'account:key' pairs separated by ';'")
        account_keys[account.strip()] = key.strip()
    return account_keys


class Settings(BaseModel):
    """Every setting of the app. Field aliases are the environment names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    storage_endpoint_template: str = Field(
        "https://{account}.blob.core.windows.net", alias="DDD_STORAGE_ENDPOINT_TEMPLATE"
    )
    # the accounts' Data Lake endpoints (directories and ACLs on hierarchical-namespace accounts)
    dfs_endpoint_template: str = Field(
        "https://{account}.dfs.core.windows.net", alias="DDD_DFS_ENDPOINT_TEMPLATE"
    )
    storage_account_keys: dict[str, SecretStr] = Field(
        default_factory=dict, alias="DDD_STORAGE_ACCOUNT_KEYS"
    )
    work_account: str = Field(alias="DDD_WORK_ACCOUNT")
    # the storage accounts (or account/container) a delivery may read from and write to
    source_accounts: AccessList = Field(alias="DDD_SOURCE_ACCOUNTS")
    sink_accounts: AccessList = Field(alias="DDD_SINK_ACCOUNTS")
    # who is granted read (r-x, recursive, default ACL) on the delivered folder, per sink
    delivered_folder_readers: FolderReaders = Field(
        default_factory=FolderReaders, alias="DDD_DELIVERED_FOLDER_READERS"
    )
    # where a delivery may delete its source folder once delivered and acknowledged: when it
    # asks (an operator's call, a standing rule), or always (the website's calls too)
    move_sources: AccessList | None = Field(None, alias="DDD_MOVE_SOURCES")
    move_always: AccessList | None = Field(None, alias="DDD_MOVE_ALWAYS")
    # deliveries that start by themselves when a run's completion flag lands (JSON list)
    standing_rules: list[StandingRule] = Field(default_factory=list, alias="DDD_STANDING_RULES")
    work_container: str = Field("ddd-transfer-work", alias="DDD_WORK_CONTAINER")
    website_url: str = Field(alias="DDD_WEBSITE_URL")
    # local runs; with DDD_KEY_VAULT_URL set the token is read from the vault instead
    website_token: SecretStr | None = Field(None, alias="DDD_WEBSITE_TOKEN")
    chunk_max_files: PositiveInt = Field(500, alias="DDD_CHUNK_MAX_FILES")
    # a work unit (a chunk of whole files, or one segment of a larger file) moves at most this
    # many bytes, so that every copy activity ends within minutes (see README, "Work units")
    chunk_max_bytes: PositiveInt = Field(4 * GIB, alias="DDD_CHUNK_MAX_BYTES")
    # work units in flight at once (a sliding window); by default one fewer than host.json's
    # activity slots, so the progress measurement never waits behind copy units
    parallel_chunks: int = Field(DEFAULT_PARALLEL_CHUNKS, ge=1, le=256,
                                 alias="DDD_PARALLEL_CHUNKS")
    # work units in flight that all the deliveries copying at once share, whichever instance
    # runs them (each delivery's window is its share, at most DDD_PARALLEL_CHUNKS); unset: one
    # delivery's window, what one instance's activity slots hold
    shared_units: int | None = Field(None, ge=1, le=4096, alias="DDD_SHARED_UNITS")
    copy_threads: int = Field(16, ge=1, le=256, alias="DDD_COPY_THREADS")
    # while work units run, the status shows how far they have got at least this often
    progress_seconds: int = Field(30, ge=1, le=300, alias="DDD_PROGRESS_SECONDS")
    # a storage outage is waited out this long (from an activity's first failure) before the
    # work fails; a failed attempt's clean-up four times as long (shared.core.outage)
    outage_wait_minutes: int = Field(DEFAULT_OUTAGE_WAIT_MINUTES, ge=1, le=24 * 60,
                                     alias="DDD_OUTAGE_WAIT_MINUTES")
    small_file_max_bytes: int = Field(
        64 * MIB, ge=0, le=COPY_FROM_URL_MAX_BYTES, alias="DDD_SMALL_FILE_MAX_BYTES"
    )
    block_size_bytes: int = Field(
        32 * MIB, ge=1, le=STAGE_BLOCK_MAX_BYTES, alias="DDD_BLOCK_SIZE_BYTES"
    )
    callback_max_bytes: int = Field(MIB, ge=4 * KIB, alias="DDD_CALLBACK_MAX_BYTES")
    website_retry_seconds: float = Field(2.0, gt=0, le=3600, alias="DDD_WEBSITE_RETRY_SECONDS")
    website_attempts: PositiveInt = Field(4, alias="DDD_WEBSITE_ATTEMPTS")
    # dry runs, summaries and shares (shared.plan.dry_run, shared.plan.summary,
    # shared.operations.share)
    dry_run_instant_files: PositiveInt = Field(5000, alias="DDD_DRY_RUN_INSTANT_FILES")
    summary_max_entries: PositiveInt = Field(250_000, alias="DDD_SUMMARY_MAX_ENTRIES")
    share_max_hours: int = Field(72, ge=1, le=SHARE_MAX_HOURS_LIMIT, alias="DDD_SHARE_MAX_HOURS")
    share_max_files: PositiveInt = Field(10_000, alias="DDD_SHARE_MAX_FILES")
    share_hash_max_bytes: int = Field(GIB, ge=0, alias="DDD_SHARE_HASH_MAX_BYTES")
    # the summary, a share and an instant dry run answer within this many seconds (Azure's front
    # end cuts an HTTP request at 230 s; shared.core.deadline); 45 s by default, under the 60 s
    # that common HTTP clients (the command line's among them) wait for an answer
    http_deadline_seconds: float = Field(45.0, ge=1, le=180, alias="DDD_HTTP_DEADLINE_SECONDS")
    azure_client_id: str | None = Field(None, alias="AZURE_CLIENT_ID")
    # the operators' side: the website token from Key Vault, e-mail, the app's own host name
    key_vault_url: str | None = Field(None, alias="DDD_KEY_VAULT_URL")
    website_token_secret: str = Field("d4s2-api-token", pattern=r"^[0-9A-Za-z-]{1,127}$",
                                      alias="DDD_WEBSITE_TOKEN_SECRET")
    notify_email_endpoint: str | None = Field(None, alias="DDD_NOTIFY_EMAIL_ENDPOINT")
    notify_sender: str | None = Field(None, alias="DDD_NOTIFY_SENDER")
    notify_to: str | None = Field(None, alias="DDD_NOTIFY_TO")
    notify_on_success: bool = Field(False, alias="DDD_NOTIFY_ON_SUCCESS")
    host_name: str | None = Field(None, alias="WEBSITE_HOSTNAME")  # set by the platform
    # the app's public base URL for the status links it hands out; else https://WEBSITE_HOSTNAME
    public_url: str | None = Field(None, alias="DDD_PUBLIC_URL")

    @model_validator(mode="after")
    def _check_operator_settings(self) -> Settings:
        token = self.website_token
        problems = operator_problems({
            "DDD_KEY_VAULT_URL": self.key_vault_url,
            "DDD_WEBSITE_TOKEN": token.get_secret_value() if token is not None else None,
            "DDD_NOTIFY_EMAIL_ENDPOINT": self.notify_email_endpoint,
            "DDD_NOTIFY_SENDER": self.notify_sender, "DDD_NOTIFY_TO": self.notify_to})
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @field_validator("storage_endpoint_template", "dfs_endpoint_template")
    @classmethod
    def _check_template(cls, template: str) -> str:
        if "{account}" not in template:
            raise ValueError("must contain '{account}'")
        try:
            example = template.format(account="example")
        except (KeyError, IndexError, ValueError):
            raise ValueError("must contain no placeholder other than '{account}'") from None
        if not example.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return template.rstrip("/")

    @field_validator("storage_account_keys", mode="before")
    @classmethod
    def _check_account_keys(cls, value: Any) -> Any:
        return _parse_account_keys(value)

    @field_validator("storage_account_keys")
    @classmethod
    def _check_account_key_names(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for account in keys:
            check_account_name(account)
        return keys

    @field_validator("work_account")
    @classmethod
    def _check_work_account(cls, account: str) -> str:
        return check_account_name(account)

    @field_validator("source_accounts", "sink_accounts", "move_sources", "move_always",
                     mode="before")
    @classmethod
    def _parse_access_list(cls, value: Any) -> Any:
        return AccessList.parse(value) if isinstance(value, str) else value

    @field_validator("standing_rules", mode="before")
    @classmethod
    def _parse_rules(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as error:
            raise ValueError(f"must be a JSON list of rules ({error})") from None

    @model_validator(mode="after")
    def _check_moves_and_rules(self) -> Settings:
        """Moving is allowed only from allowed sources; every rule only between allowed places
        (and moving only where moving is allowed): a rule that could not run refuses the app."""
        problems = []
        for name, moves in (("DDD_MOVE_SOURCES", self.move_sources),
                            ("DDD_MOVE_ALWAYS", self.move_always)):
            for account, containers in (moves.entries.items() if moves else ()):
                for container in containers or [None]:
                    allowed = (self.source_accounts.allows(account, container) if container
                               else self.source_accounts.allows_account(account))
                    if not allowed:
                        where = f"{account}/{container}" if container else account
                        problems.append(f"{name}: '{where}' is not an allowed source "
                                        "(DDD_SOURCE_ACCOUNTS)")
        problems += rule_problems(self.standing_rules, self.access, self.moves_allowed)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def moves_allowed(self, account: str, container: str) -> bool:
        """A delivery from this container may delete its source when it asks to."""
        return any(moves is not None and moves.allows(account, container)
                   for moves in (self.move_sources, self.move_always))

    def moves_always(self, account: str, container: str) -> bool:
        """Every delivery from this container deletes its source (the website's too)."""
        return self.move_always is not None and self.move_always.allows(account, container)

    @field_validator("delivered_folder_readers", mode="before")
    @classmethod
    def _parse_readers(cls, value: Any) -> Any:
        return FolderReaders.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_readers_name_sinks(self) -> Settings:
        """Grants configured for a place no delivery can go to are a typo: say so at start."""
        for account, container in self.delivered_folder_readers.scopes:
            allowed = (self.sink_accounts.allows(account, container) if container
                       else self.sink_accounts.allows_account(account))
            if not allowed:
                where = f"{account}/{container}" if container else account
                raise ValueError(f"DDD_DELIVERED_FOLDER_READERS: '{where}' is not an allowed "
                                 "sink (DDD_SINK_ACCOUNTS)")
        return self

    @model_validator(mode="after")
    def _check_credentials_reach_every_account(self) -> Settings:
        """Azure AD tokens go only over https: on an http:// endpoint (Azurite) every account
        the app may touch needs a key, or its first request would fail deep in a delivery."""
        if self.storage_endpoint_template.startswith("https://") and \
                self.dfs_endpoint_template.startswith("https://"):
            return self
        accounts = {self.work_account} | self.source_accounts.accounts \
            | self.sink_accounts.accounts
        keyless = sorted(account for account in accounts
                         if account not in self.storage_account_keys)
        if keyless:
            raise ValueError(
                f"DDD_STORAGE_ACCOUNT_KEYS: no key for {', '.join(keyless)}; the endpoint "
                "template is http://, where Azure AD credentials cannot be used"
            )
        return self

    @field_validator("work_container")
    @classmethod
    def _check_work_container(cls, container: str) -> str:
        return check_container_name(container)

    @field_validator("website_url")
    @classmethod
    def _check_website_url(cls, url: str) -> str:
        # the website's token travels with every result: over TLS, but on this machine
        if not url.startswith(("https://", "http://")) or "?" in url or "#" in url:
            raise ValueError("must be an https:// base URL without a query")
        if url.startswith("http://") and not is_loopback_url(url):
            raise ValueError("must be https:// (the website's token is sent with every result); "
                             "http:// only for a website on this machine (localhost, 127.0.0.1)")
        return url.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not url.startswith(("https://", "http://")) or "?" in url or "#" in url \
                or (url.startswith("http://") and not is_loopback_url(url)):
            raise ValueError("must be the app's https:// base URL without a query (http:// "
                             "only on this machine)")
        return url.rstrip("/")

    @field_validator("website_token")
    @classmethod
    def _check_website_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("must not be empty")
        return token

    @property
    def public_base_url(self) -> str | None:
        """Where the app's HTTP API is reached, for the links it hands out (never the Host
        header of a request): DDD_PUBLIC_URL, else the platform's WEBSITE_HOSTNAME."""
        if self.public_url:
            return self.public_url
        if not self.host_name:
            return None
        scheme = "http" if is_loopback_url(f"http://{self.host_name}") else "https"
        return f"{scheme}://{self.host_name}"

    @property
    def access(self) -> AccessPolicy:
        return AccessPolicy(sources=self.source_accounts, sinks=self.sink_accounts,
                            work_account=self.work_account)

    def account_key(self, account: str) -> str | None:
        """The configured key of a storage account (Azurite), or None to use Azure AD."""
        key = self.storage_account_keys.get(account)
        return key.get_secret_value() if key is not None else None

    def account_url(self, account: str) -> str:
        """The blob endpoint of a storage account, from the endpoint template."""
        return self.storage_endpoint_template.format(account=check_account_name(account))

    def dfs_account_url(self, account: str) -> str:
        """The Data Lake endpoint of a storage account, from its endpoint template."""
        return self.dfs_endpoint_template.format(account=check_account_name(account))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `environ` (default: the process environment).

    Unset and empty values take the default; required ones missing and invalid ones are all
    reported together in one SettingsError.
    """
    if environ is None:
        environ = os.environ
    raw: dict[str, str] = {}
    for field in Settings.model_fields.values():
        name = field.alias
        assert name is not None
        value = environ.get(name, "").strip()
        if value:
            raw[name] = value
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        # the checks across settings run only once each field is valid: run them here too, so
        # every problem is named at once
        problems = operator_problems(raw)
        for problem in error.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "missing":
                message = "is required"
            # a check across settings names them itself, one line each ("DDD_X: ...")
            for text in [f"{name}: {message}"] if name else message.splitlines():
                if text not in problems:
                    problems.append(text)
        raise SettingsError(problems) from None
