"""The HTTP transport of the app's Azure SDK clients other than storage (Key Vault, e-mail).

Bounded like the storage clients: 10 s to connect, 30 s between bytes, proxy and CA bundle
settings read from the environment once, when the client is built (`REQUESTS_CA_BUNDLE` is how
a local run trusts the stand-ins' certificate), not on every request.
"""

from __future__ import annotations

import requests
from azure.core.pipeline.transport import RequestsTransport

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30
RETRIES = 2  # azure-core retries 5xx, 408, 429 and connection errors this many times


def bounded_transport(url: str) -> RequestsTransport:
    session = requests.Session()
    environment = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(environment["proxies"])
    session.trust_env = False
    return RequestsTransport(session=session, session_owner=True, use_env_settings=False,
                             connection_verify=environment["verify"],
                             connection_timeout=CONNECT_TIMEOUT_SECONDS,
                             read_timeout=READ_TIMEOUT_SECONDS)
