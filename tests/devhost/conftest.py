"""Fixtures for devhost's own tests: the sample app served by a devhost child process."""

from pathlib import Path

import pytest
import requests

from devhost.launcher import DevHostProcess

SAMPLE_APP = Path(__file__).parent / "sample_app" / "function_app.py"


class SampleClient:
    """Calls the sample app over HTTP, as a website would."""

    def __init__(self, host: DevHostProcess):
        self.host = host

    def start(self, orchestrator: str, payload=None, instance_id: str | None = None) -> dict:
        params = {"code": self.host.function_key}
        if instance_id:
            params["id"] = instance_id
        answer = requests.post(f"{self.host.base_url}/api/orchestrators/{orchestrator}",
                               params=params, json=payload, timeout=30)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def op(self, name: str, **args):
        answer = requests.post(f"{self.host.base_url}/api/ops/{name}",
                               params={"code": self.host.function_key}, json=args, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def run(self, orchestrator: str, payload=None, timeout: float = 60) -> dict:
        started = self.start(orchestrator, payload)
        return self.host.wait_for(started["id"], timeout=timeout)


@pytest.fixture(scope="session")
def sample_host(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("devhost-sample")
    host = DevHostProcess(SAMPLE_APP, state_dir, max_activities=8,
                          env={"SAMPLE_ACTIVITY_LOG": str(state_dir / "activity-log.txt")})
    with host:
        yield host


@pytest.fixture
def sample(sample_host) -> SampleClient:
    return SampleClient(sample_host)


@pytest.fixture
def sample_app_path() -> Path:
    return SAMPLE_APP


@pytest.fixture
def client_for():
    return SampleClient
