"""The HTTP transport of the app's Azure SDK clients other than storage (Key Vault, e-mail).

Bounded like the storage clients: 10 s to connect, 30 s between bytes, proxy and CA bundle
settings read from the environment once, when the client is built (`REQUESTS_CA_BUNDLE` is how
a local run trusts the stand-ins' certificate), not on every request.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from azure.core.pipeline.transport import RequestsTransport

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30
RETRIES = 2  # azure-core retries 5xx, 408, 429 and connection errors this many times


@dataclass(frozen=True)
class EnvironmentSettings:
    """What `requests` would read from the environment on every request, read once."""

    proxies: dict[str, str]
    verify: bool | str  # True, or the CA bundle (REQUESTS_CA_BUNDLE) an https URL is checked with


def environment_settings(url: str) -> EnvironmentSettings:
    """The proxies and CA bundle for `url`. A plain-http URL is never checked against a CA
    bundle: leaving the bundle out spares a stat of it on every request (requests makes one)."""
    environment = requests.Session().merge_environment_settings(url, {}, None, None, None)
    bundle = environment["verify"]
    verify = bundle if isinstance(bundle, str) and url.lower().startswith("https://") else True
    return EnvironmentSettings(proxies=dict(environment["proxies"]), verify=verify)


def unproxied_session(environment: EnvironmentSettings) -> requests.Session:
    """A session with the environment's proxies that does not read the environment again."""
    session = requests.Session()
    session.proxies.update(environment.proxies)
    session.trust_env = False
    return session


def bounded_transport(url: str) -> RequestsTransport:
    environment = environment_settings(url)
    return RequestsTransport(session=unproxied_session(environment), session_owner=True,
                             use_env_settings=False, connection_verify=environment.verify,
                             connection_timeout=CONNECT_TIMEOUT_SECONDS,
                             read_timeout=READ_TIMEOUT_SECONDS)
