"""The rules across the operators' settings (Key Vault, e-mail), on their raw values.

`operator_problems` names every problem by its setting: the website token must come from
somewhere (the vault when `DDD_KEY_VAULT_URL` is set, else `DDD_WEBSITE_TOKEN`); the vault URL
is https (the Key Vault SDK sends tokens over TLS only); e-mail needs its endpoint, sender and
recipients together, or none of them. `shared.core.config` runs it inside `Settings`
validation, and on the raw values when a setting is invalid, so every problem is named at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

WEBSITE_TOKEN_REQUIRED = "is required (or DDD_KEY_VAULT_URL, to read it from Key Vault)"
NOTIFY_SETTINGS = ("DDD_NOTIFY_EMAIL_ENDPOINT", "DDD_NOTIFY_SENDER", "DDD_NOTIFY_TO")
# an address as Communication Services takes it: something@domain, no spaces or brackets
ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


def https_base_url(url: str) -> bool:
    return url.startswith("https://") and "?" not in url and "#" not in url and len(url) > 8


def notify_recipients(value: str | None) -> list[str]:
    """DDD_NOTIFY_TO: addresses separated by ',' or ';'."""
    return [part.strip() for part in re.split(r"[,;]", value or "") if part.strip()]


def operator_problems(values: Mapping[str, str | None]) -> list[str]:
    """Each problem of the operators' settings, by environment name (all of them at once);
    `values` maps the names to their text (None: unset)."""
    problems: list[str] = []
    vault, token = values.get("DDD_KEY_VAULT_URL"), values.get("DDD_WEBSITE_TOKEN")
    if vault is None and token is None:
        problems.append(f"DDD_WEBSITE_TOKEN: {WEBSITE_TOKEN_REQUIRED}")
    if vault is not None and not https_base_url(vault):
        problems.append("DDD_KEY_VAULT_URL: must be the vault's https:// URL "
                        "(https://<name>.vault.azure.net/)")
    endpoint, sender, to = (values.get(name) for name in NOTIFY_SETTINGS)
    given = [value is not None for value in (endpoint, sender, to)]
    if any(given) and not all(given):
        missing = [name for name, set_ in zip(NOTIFY_SETTINGS, given, strict=True) if not set_]
        problems.append(f"{', '.join(missing)}: required with the other DDD_NOTIFY_ settings "
                        "(e-mail needs an endpoint, a sender and recipients)")
    if endpoint is not None and not https_base_url(endpoint):
        problems.append("DDD_NOTIFY_EMAIL_ENDPOINT: must be the Communication Services https:// "
                        "endpoint")
    if sender is not None and not ADDRESS.fullmatch(sender):
        problems.append("DDD_NOTIFY_SENDER: must be one e-mail address")
    if to is not None:
        recipients = notify_recipients(to)
        if not recipients or not all(ADDRESS.fullmatch(address) for address in recipients):
            problems.append("DDD_NOTIFY_TO: must be e-mail addresses separated by ','")
    return problems
