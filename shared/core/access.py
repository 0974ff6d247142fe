"""Which storage accounts (and containers) a delivery may read from and write to.

The allow-lists are settings (`DDD_SOURCE_ACCOUNTS`, `DDD_SINK_ACCOUNTS`): comma-separated
entries, each an account name (every container of it) or `account/container`. A request naming
anything else is refused before anything starts. The app's own work account is never a source
or a sink, whatever the lists say: it holds every delivery's plans, results and callback bodies.

The lists hold where the work is done too, not only at the door: the storage clients
(`shared.storage.clients.StorageClients`) hand out a source or sink container only through
`AccessPolicy.check`, so an orchestration started some other way (the Durable HTTP API with the
master or system key, a hand-edited input) reaches nothing the endpoints refuse; it meets
`AccessRefused`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from shared.core.naming import check_account_name, check_container_name

if TYPE_CHECKING:
    from shared.core.request import DeliveryRequest


@dataclass(frozen=True)
class AccessList:
    """Account name -> the containers allowed in it (None: every container)."""

    entries: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> AccessList:
        """``"core, lab/incoming, lab/shared"`` -> core: all containers; lab: two containers."""
        entries: dict[str, frozenset[str] | None] = {}
        for raw_entry in text.split(","):
            entry = raw_entry.strip()
            if not entry:
                continue
            account, separator, container = entry.partition("/")
            try:
                check_account_name(account)
                if separator:
                    check_container_name(container)
            except ValueError as error:
                raise ValueError(f"entry '{entry}': {error}") from None
            if not separator or entries.get(account, frozenset()) is None:
                entries[account] = None
            else:
                entries[account] = (entries.get(account) or frozenset()) | {container}
        if not entries:
            raise ValueError("must name at least one storage account ('account' or "
                             "'account/container', comma-separated)")
        return cls(entries)

    @property
    def accounts(self) -> frozenset[str]:
        return frozenset(self.entries)

    def allows_account(self, account: str) -> bool:
        return account in self.entries

    def allows(self, account: str, container: str) -> bool:
        if account not in self.entries:
            return False
        containers = self.entries[account]
        return containers is None or container in containers

    def __str__(self) -> str:
        return ",".join(
            account if containers is None
            else ",".join(f"{account}/{container}" for container in sorted(containers))
            for account, containers in sorted(self.entries.items())
        )


Side = Literal["source", "sink"]


class AccessRefused(Exception):
    """An account or container the allow-lists do not allow for this side (or the app's own
    work account): nothing was read or written there."""


@dataclass(frozen=True)
class AccessPolicy:
    """The two allow-lists and the account that is never allowed."""

    sources: AccessList
    sinks: AccessList
    work_account: str

    def refusals(self, request: DeliveryRequest) -> list[dict[str, str]]:
        """One {"field", "message"} per side the request may not use (website key names)."""
        return self.refusals_of_names(request.source_account, request.source_container,
                                      request.sink_account, request.sink_container)

    def refusals_of_names(self, source_account: str | None, source_container: str | None,
                          sink_account: str | None,
                          sink_container: str | None) -> list[dict[str, str]]:
        """The same for names that passed their own checks (None: a name that did not), so a
        request with other bad fields still hears about its accounts in the same answer."""
        return [
            *self._side("Source", "source", self.sources, source_account, source_container),
            *self._side("Sink", "sink", self.sinks, sink_account, sink_container),
        ]

    def check(self, side: Side, account: str, container: str | None) -> None:
        """Raise AccessRefused unless `account` (and `container`, when given) may be this side
        of a delivery; the app's own work account never may."""
        allowed = self.sources if side == "source" else self.sinks
        prefix = "Source" if side == "source" else "Sink"
        for problem in self._side(prefix, side, allowed, account, container):
            raise AccessRefused(f"{problem['field']}: {problem['message']} (refused where the "
                                "work is done; nothing was read or written)")

    def _side(self, prefix: str, role: str, allowed: AccessList, account: str | None,
              container: str | None) -> Iterable[dict[str, str]]:
        if account is None:
            return
        if account == self.work_account:
            yield {"field": f"{prefix}_StorageAccount",
                   "message": f"'{account}' is this service's own storage account; it is never "
                              f"a {role}"}
        elif not allowed.allows_account(account):
            yield {"field": f"{prefix}_StorageAccount",
                   "message": f"'{account}' is not an allowed {role} account for this service"}
        elif container is not None and not allowed.allows(account, container):
            yield {"field": f"{prefix}_FileSystem",
                   "message": f"'{container}' is not an allowed {role} container in "
                              f"'{account}'"}
