"""The front end cuts an HTTP response after 230 s; the function runs on.

Sources: "Regardless of the function app timeout setting, 230 seconds is the maximum amount of
time that an HTTP triggered function can take to respond to a request. This is because of the
default idle timeout of Azure Load Balancer." (MicrosoftDocs/azure-docs
includes/functions-timeout-duration.md); "If a function that uses the HTTP trigger doesn't
complete within 230 seconds, the Azure Load Balancer will time out and return an HTTP 502
error. The function will continue running but will be unable to return an HTTP response."
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#limits).
devhost's limit is DEVHOST_HTTP_FRONT_END_SECONDS (here 2 s).
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from devhost.front_end import front_end_seconds
from devhost.launcher import DevHostProcess

SAMPLE_APP = Path(__file__).parent / "sample_app" / "function_app.py"


def test_a_response_later_than_the_front_end_limit_is_a_502_and_the_function_runs_on(
        tmp_path):
    done = tmp_path / "done"
    with DevHostProcess(SAMPLE_APP, tmp_path / "host",
                        env={"DEVHOST_HTTP_FRONT_END_SECONDS": "2"}) as host:
        assert "front end 2s" in host.logs()
        assert requests.get(f"{host.base_url}/api/slow/0.2", timeout=30).text == "finally"
        started = time.monotonic()
        answer = requests.get(f"{host.base_url}/api/slow/6", params={"done": str(done)},
                              timeout=30)
        elapsed = time.monotonic() - started
        assert answer.status_code == 502
        assert 2 <= elapsed < 5.5
        assert not done.exists()
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.exists()  # the function ran to its end; its response went nowhere
        assert "not answered within 2 s: 502 to the client" in host.logs()


def test_the_limit_is_azures_unless_set():
    assert front_end_seconds("") == 230
    assert front_end_seconds("2") == 2
    assert front_end_seconds("0") is None
