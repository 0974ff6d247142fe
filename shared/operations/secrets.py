"""Secrets the app reads at run time: the website's API token, from Key Vault or a setting.

With `DDD_KEY_VAULT_URL` set (Azure), the token is the secret `DDD_WEBSITE_TOKEN_SECRET`
(default `d4s2-api-token`) of that vault, read with the app's managed identity through
`azure-keyvault-secrets`: on first use, then kept `TOKEN_CACHE_LIFETIME` (five minutes), and
read again at once when the website refuses the token it was given (`reread_website_token`), so
a rotated secret is used without a restart. Without a vault (local runs) it is
`DDD_WEBSITE_TOKEN`; when both are set, the vault wins.

The `SecretClient` is built on first use and kept per vault and identity; values are cached per
vault and secret name. No value is logged; errors name the vault and the secret, never a value.
A vault that refuses (no such secret, no role, no identity) raises `SecretRefusedError`: a
person must fix it; a vault that cannot be reached raises `SecretUnavailableError`: try later.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient

from shared.core.config import Settings
from shared.core.naming import is_loopback_url
from shared.storage import identity
from shared.storage.transport import RETRIES, bounded_transport

logger = logging.getLogger(__name__)

TOKEN_CACHE_LIFETIME = timedelta(minutes=5)
REFUSING_STATUS = frozenset({400, 401, 403, 404})


class SecretError(RuntimeError):
    """A secret could not be read."""


class SecretRefusedError(SecretError):
    """The vault refused: no such secret, no role on the vault, no usable identity."""


class SecretUnavailableError(SecretError):
    """The vault did not answer usefully (unreachable, 5xx after retries): try again later."""


@dataclass
class _Cached:
    value: str
    read_at: float


_clients: dict[tuple[str, str | None], SecretClient] = {}
_values: dict[tuple[str, str], _Cached] = {}
_lock = threading.Lock()
_clock = time.monotonic  # replaced in tests


def website_token(settings: Settings) -> str:
    """The token to send to the website now (cached up to TOKEN_CACHE_LIFETIME when read from
    Key Vault)."""
    if settings.key_vault_url is None:
        assert settings.website_token is not None  # the settings check guarantees one source
        return settings.website_token.get_secret_value()
    return _vault_value(settings, settings.website_token_secret, refresh=False)


def reread_website_token(settings: Settings, refused: str) -> str | None:
    """After the website refused `refused`: read the vault again; the new token if it changed,
    None if there is nothing newer (or no vault to read)."""
    if settings.key_vault_url is None:
        return None
    fresh = _vault_value(settings, settings.website_token_secret, refresh=True)
    logger.info("website token re-read from Key Vault after a refusal: %s",
                "changed" if fresh != refused else "unchanged")
    return fresh if fresh != refused else None


def named_secret(settings: Settings, name: str) -> str:
    """Another secret of the vault (a standing rule's webhook token), cached as the website's."""
    if settings.key_vault_url is None:
        raise SecretRefusedError(f"the secret '{name}' needs DDD_KEY_VAULT_URL (a Key Vault)")
    return _vault_value(settings, name, refresh=False)


def website_token_source(settings: Settings) -> str:
    """Where the token comes from, for messages people read."""
    if settings.key_vault_url is None:
        return "DDD_WEBSITE_TOKEN"
    return f"the Key Vault secret '{settings.website_token_secret}' in {settings.key_vault_url}"




def _secret_client(settings: Settings) -> SecretClient:
    assert settings.key_vault_url is not None
    key = (settings.key_vault_url, settings.azure_client_id)
    client = _clients.get(key)
    if client is None:
        client = SecretClient(
            settings.key_vault_url, identity.azure_ad_credential(settings),
            transport=bounded_transport(settings.key_vault_url), retry_total=RETRIES,
            # Key Vault's challenge names https://vault.azure.net, and the SDK checks that the
            # vault's host is under it; no loopback address is, so a local stand-in is exempt
            verify_challenge_resource=not is_loopback_url(settings.key_vault_url))
        _clients[key] = client
    return client


def _vault_value(settings: Settings, name: str, *, refresh: bool) -> str:
    assert settings.key_vault_url is not None
    key = (settings.key_vault_url, name)
    with _lock:
        cached = _values.get(key)
        fresh_enough = cached is not None and \
            _clock() - cached.read_at < TOKEN_CACHE_LIFETIME.total_seconds()
        if cached is not None and fresh_enough and not refresh:
            return cached.value
        where = f"secret '{name}' in Key Vault {settings.key_vault_url}"
        try:
            value = _secret_client(settings).get_secret(name).value
        except ResourceNotFoundError:
            raise SecretRefusedError(f"there is no {where}: store it with "
                                     "`az keyvault secret set`") from None
        except ClientAuthenticationError as error:
            raise SecretRefusedError(f"the app could not authenticate to read the {where}: "
                                     f"{_first_line(error)}") from None
        except HttpResponseError as error:
            if error.status_code in REFUSING_STATUS:
                raise SecretRefusedError(
                    f"Key Vault refused to give the {where} (HTTP {error.status_code}): grant "
                    "the app's identity Key Vault Secrets User on the vault") from None
            raise SecretUnavailableError(f"Key Vault did not give the {where} (HTTP "
                                         f"{error.status_code})") from None
        except (ServiceRequestError, ServiceResponseError) as error:
            raise SecretUnavailableError(f"Key Vault could not be reached for the {where}: "
                                         f"{type(error).__name__}") from None
        if not value:
            raise SecretRefusedError(f"the {where} is empty")
        _values[key] = _Cached(value, _clock())
        logger.info("read the %s", where)
        return value


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__
