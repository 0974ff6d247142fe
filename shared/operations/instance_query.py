"""One page of the Durable instance query, with its continuation token.

The Durable SDK's `get_status_by` returns only the extension's first page (100 instances,
`OrchestrationStatusQueryCondition.PageSize`) and drops the continuation token the extension
sends in `x-ms-continuation-token` (`HttpApiHandler`), so the list of deliveries asks the
host's RPC endpoint itself: `rpcBaseUrl` from the durable client binding, `instances/` with the
same query parameters, the token in the same header.
"""

from __future__ import annotations

import json
from typing import Any

import requests

CONTINUATION_HEADER = "x-ms-continuation-token"
TIMEOUT_SECONDS = (10, 60)


class InstanceQueryError(RuntimeError):
    """The host's instance query did not answer with a page."""


def rpc_base_url(client_binding: str) -> str:
    """The host's local RPC base URL, from the durable client binding's JSON."""
    base = json.loads(client_binding).get("rpcBaseUrl") or ""
    if not base:
        raise InstanceQueryError("the durable client binding has no rpcBaseUrl")
    return base if base.endswith("/") else base + "/"


def query_page(rpc_base: str, params: dict[str, str],
               continuation_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of instances and the token of the next page (None at the end)."""
    headers = {CONTINUATION_HEADER: continuation_token} if continuation_token else {}
    answer = requests.get(f"{rpc_base}instances/", params=params, headers=headers,
                          timeout=TIMEOUT_SECONDS)
    if answer.status_code != 200:
        raise InstanceQueryError(f"the instance query answered HTTP {answer.status_code}")
    page = answer.json()
    if not isinstance(page, list):
        raise InstanceQueryError("the instance query did not answer a list")
    following = answer.headers.get(CONTINUATION_HEADER, "").strip()
    return page, (following if following and following != "null" else None)
