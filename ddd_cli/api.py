"""The app's HTTP API as the command line uses it (requests; no Azure SDK)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT_SECONDS = (10, 60)
ENDED = ("Completed", "Failed", "Terminated")


class ApiError(RuntimeError):
    """The app answered with an error: its status code and its JSON error, for people (0:
    the app could not be reached)."""

    def __init__(self, status_code: int, answer: Any) -> None:
        self.status_code = status_code
        self.answer = answer
        if isinstance(answer, dict):
            text = str(answer.get("error") or answer)
            for problem in answer.get("errors") or []:
                text += f"\n  {problem.get('field')}: {problem.get('message')}"
        else:
            text = str(answer or "")
        hint = {401: " (wrong or missing key: --key, or --admin-key for list, resend, "
                     "cancel, rules and an operator's start)"}.get(status_code, "")
        super().__init__(f"HTTP {status_code}{hint}: {text}".rstrip(": "))


@dataclass(frozen=True)
class Api:
    base_url: str  # http(s)://host[:port], without /api
    key: str | None = None  # a function key (every call but list, resend and cancel)
    admin_key: str | None = None  # the master key (list, resend, cancel)

    def _call(self, method: str, path: str, *, admin: bool = False,
              params: dict[str, str] | None = None, json: Any = None) -> Any:
        key = self.admin_key if admin else (self.key or self.admin_key)
        headers = {"x-functions-key": key} if key else {}
        try:
            answer = requests.request(method, f"{self.base_url.rstrip('/')}/api/{path}",
                                      params=params, json=json, headers=headers,
                                      timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise ApiError(0, f"{self.base_url} cannot be reached ({type(error).__name__}); "
                              "is the app running (ddd-transfer local up)?") from None
        try:
            body = answer.json() if answer.content else None
        except ValueError:
            body = answer.text[:500]
        if answer.status_code >= 400:
            raise ApiError(answer.status_code, body)
        return body

    def start(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", "deliveries", json=payload)
        return answer

    def start_operator(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An operator's start: the payload may carry Conflict_Policy, Move_Source, Report_To
        and Report_Token_Secret (the master key)."""
        answer: dict[str, Any] = self._call("POST", "operator/deliveries", admin=True,
                                            json=payload)
        return answer

    def rules(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", "operator/rules", admin=True)
        return answer

    def test_rule(self, account: str, container: str, path: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", "operator/rules/test", admin=True, params={
            "account": account, "container": container, "path": path})
        return answer

    def status(self, instance_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", f"deliveries/{instance_id}")
        return answer

    def list(self, params: dict[str, str]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", "deliveries", admin=True, params=params)
        return answer

    def resend(self, instance_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"deliveries/{instance_id}/resend",
                                            admin=True)
        return answer

    def cancel(self, instance_id: str, reason: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"deliveries/{instance_id}/cancel",
                                            admin=True, params={"reason": reason})
        return answer

    def dry_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The result at once (a small folder: `result`), or the background run's id and
        `dryRunStatusUri`."""
        answer: dict[str, Any] = self._call("POST", "dry-runs", json=payload)
        return answer

    def dry_run_status(self, run_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", f"dry-runs/{run_id}")
        return answer

    def summary(self, source: dict[str, str]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", "summary", json=source)
        return answer

    def create_share(self, request: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", "shares", json=request)
        return answer

    def share_status(self, share_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", f"shares/{share_id}")
        return answer

    def revoke_share(self, share_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("DELETE", f"shares/{share_id}")
        return answer
