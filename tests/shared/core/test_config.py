"""Settings: one module, every setting by its environment name, failing fast and all at once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.core.config import GIB, MIB, Settings, SettingsError, load_settings

REQUIRED = {
    "DDD_WORK_ACCOUNT": "devstoreaccount1",
    "DDD_WEBSITE_URL": "https://d4s2.example.org/",
    "DDD_WEBSITE_TOKEN": "s3cr3t-token-value",
    "DDD_SOURCE_ACCOUNTS": "sequencingcore",
    "DDD_SINK_ACCOUNTS": "labsmith",
}


def test_defaults() -> None:
    settings = load_settings(REQUIRED)
    assert settings.storage_endpoint_template == "https://{account}.blob.core.windows.net"
    assert settings.account_url("labsmith") == "https://labsmith.blob.core.windows.net"
    assert settings.storage_account_keys == {}
    assert settings.account_key("labsmith") is None
    assert settings.work_container == "ddd-transfer-work"
    assert settings.website_url == "https://d4s2.example.org"
    assert settings.chunk_max_files == 500
    assert settings.chunk_max_bytes == 4 * GIB
    assert settings.copy_threads == 16
    assert settings.small_file_max_bytes == 64 * MIB
    assert settings.block_size_bytes == 32 * MIB
    assert settings.callback_max_bytes == MIB
    assert settings.website_retry_seconds == 2
    assert settings.website_attempts == 4
    assert settings.azure_client_id is None and settings.key_vault_url is None


def test_every_missing_and_invalid_setting_is_listed_in_one_error() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {
                "DDD_STORAGE_ENDPOINT_TEMPLATE": "http://127.0.0.1:10000/devstoreaccount1",
                "DDD_CHUNK_MAX_FILES": "0",
                "DDD_COPY_THREADS": "many",
                "DDD_BLOCK_SIZE_BYTES": str(5000 * MIB),
                "DDD_STORAGE_ACCOUNT_KEYS": "labsmith",
                "DDD_WORK_CONTAINER": "Work_Container",
            }
        )
    names = {problem.split(":")[0] for problem in raised.value.problems}
    assert names == {
        "DDD_STORAGE_ENDPOINT_TEMPLATE",
        "DDD_CHUNK_MAX_FILES",
        "DDD_COPY_THREADS",
        "DDD_BLOCK_SIZE_BYTES",
        "DDD_STORAGE_ACCOUNT_KEYS",
        "DDD_WORK_CONTAINER",
        "DDD_WORK_ACCOUNT",
        "DDD_WEBSITE_URL",
        "DDD_WEBSITE_TOKEN",
        "DDD_SOURCE_ACCOUNTS",
        "DDD_SINK_ACCOUNTS",
    }
    assert "DDD_WEBSITE_TOKEN: is required" in str(raised.value)


def test_azurite_values_and_account_keys() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "DDD_STORAGE_ENDPOINT_TEMPLATE": "http://127.0.0.1:10000/{account}",
            "DDD_STORAGE_ACCOUNT_KEYS": (
                "sequencingcore:c2VjcmV0a2V5MQ==; labsmith:a2V5Mg==; devstoreaccount1:a2V5Mw=="
            ),
            "DDD_WEBSITE_RETRY_SECONDS": "0.5",
        }
    )
    assert settings.account_url("labsmith") == "http://127.0.0.1:10000/labsmith"
    assert settings.account_key("sequencingcore") == "c2VjcmV0a2V5MQ=="
    assert settings.account_key("labsmith") == "a2V5Mg=="
    assert settings.website_retry_seconds == 0.5


def test_secrets_never_show_in_repr_or_errors() -> None:
    settings = load_settings({**REQUIRED, "DDD_STORAGE_ACCOUNT_KEYS": "labsmith:a2V5Mg=="})
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "s3cr3t-token-value" not in text
        assert "a2V5Mg==" not in text
    with pytest.raises(SettingsError) as raised:
        load_settings({**REQUIRED, "DDD_COPY_THREADS": "0"})
    assert "s3cr3t-token-value" not in str(raised.value)


def test_empty_values_mean_unset() -> None:
    settings = load_settings({**REQUIRED, "DDD_CHUNK_MAX_FILES": "", "AZURE_CLIENT_ID": " "})
    assert settings.chunk_max_files == 500 and settings.azure_client_id is None


def test_shared_reads_the_environment_only_in_config() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared"
    readers = [
        path.relative_to(shared).as_posix()
        for path in shared.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    ]
    assert readers == ["core/config.py"]


def test_the_local_settings_example_holds_every_setting_and_loads() -> None:
    example = Path(__file__).resolve().parents[3] / "local.settings.json.example"
    document = json.loads(example.read_text())
    values = document["Values"]
    assert document["IsEncrypted"] is False
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert {field.alias for field in Settings.model_fields.values()} <= set(values)
    settings = load_settings(values)
    assert settings.account_url("labsmith") == "http://127.0.0.1:10000/labsmith"
    assert set(settings.storage_account_keys) == {"devstoreaccount1", "sequencingcore", "labsmith"}


def test_allow_lists_name_accounts_or_account_containers() -> None:
    settings = load_settings({**REQUIRED, "DDD_SOURCE_ACCOUNTS": " sequencingcore , othercore",
                              "DDD_SINK_ACCOUNTS": "labsmith/incoming,labsmith/shared,otherlab"})
    access = settings.access
    assert access.sources.accounts == {"sequencingcore", "othercore"}
    assert access.sinks.allows("labsmith", "incoming") and access.sinks.allows("labsmith", "shared")
    assert not access.sinks.allows("labsmith", "private")
    assert access.sinks.allows("otherlab", "anything")
    assert not access.sinks.allows_account("sequencingcore")


@pytest.mark.parametrize("value", [",", "Bad_Account", "labsmith/Bad_Container", "lab/x"])
def test_an_allow_list_that_names_nothing_usable_is_refused(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**REQUIRED, "DDD_SINK_ACCOUNTS": value})
    assert [problem.split(":")[0] for problem in raised.value.problems] == ["DDD_SINK_ACCOUNTS"]


def test_an_http_endpoint_needs_a_key_for_every_account_the_app_may_touch() -> None:
    """Azure AD tokens are refused over http (the SDK raises), so a keyless account on Azurite
    is found at start, not deep in a delivery."""
    with pytest.raises(SettingsError) as raised:
        load_settings({**REQUIRED,
                       "DDD_STORAGE_ENDPOINT_TEMPLATE": "http://127.0.0.1:10000/{account}",
                       "DDD_STORAGE_ACCOUNT_KEYS": "sequencingcore:a2V5;devstoreaccount1:a2V5",
                       "DDD_SINK_ACCOUNTS": "labsmith,otherlab"})
    assert "labsmith, otherlab" in str(raised.value)


def test_the_website_token_may_come_from_the_vault_instead() -> None:
    without_token = {name: value for name, value in REQUIRED.items()
                     if name != "DDD_WEBSITE_TOKEN"}
    settings = load_settings({**without_token,
                              "DDD_KEY_VAULT_URL": "https://kv-ddd.vault.azure.net/"})
    assert settings.website_token is None
    assert settings.website_token_secret == "d4s2-api-token"
    with pytest.raises(SettingsError) as raised:
        load_settings({**without_token, "DDD_KEY_VAULT_URL": "http://kv-ddd.vault.azure.net/"})
    assert [p.split(":")[0] for p in raised.value.problems] == ["DDD_KEY_VAULT_URL"]


def test_e_mail_settings_come_together_and_are_named_with_every_other_problem() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**REQUIRED, "DDD_NOTIFY_TO": "ops@example.edu; not an address",
                       "DDD_COPY_THREADS": "0"})
    names = [problem.split(":")[0] for problem in raised.value.problems]
    assert names == ["DDD_NOTIFY_EMAIL_ENDPOINT, DDD_NOTIFY_SENDER", "DDD_NOTIFY_TO",
                     "DDD_COPY_THREADS"]
    settings = load_settings({**REQUIRED, "DDD_NOTIFY_EMAIL_ENDPOINT": "https://acs.example",
                              "DDD_NOTIFY_SENDER": "DoNotReply@x.azurecomm.net",
                              "DDD_NOTIFY_TO": "a@example.edu, b@example.edu",
                              "DDD_NOTIFY_ON_SUCCESS": "True"})
    assert settings.notify_on_success is True


def test_the_default_window_leaves_an_activity_slot_for_the_progress_measurement() -> None:
    """The orchestrator measures the units in flight with an activity: with as many units in
    flight as the host has activity slots (or more), it waits until a unit ends, and the
    status stands still meanwhile. The host's slot count is host.json's; Azure deploys the
    Bicep's default, and local runs start from local.settings.json.example."""
    repo = Path(__file__).resolve().parents[3]
    host = json.loads((repo / "host.json").read_text())
    slots = host["extensions"]["durableTask"]["maxConcurrentActivityFunctions"]
    assert load_settings(REQUIRED).parallel_chunks == slots - 1
    bicep = (repo / "infra" / "modules" / "functionapp.bicep").read_text()
    deployed = re.search(r"^param parallelChunks int = (\d+)$", bicep, re.MULTILINE)
    assert deployed is not None and int(deployed.group(1)) == slots - 1
    example = json.loads((repo / "local.settings.json.example").read_text())
    assert int(example["Values"]["DDD_PARALLEL_CHUNKS"]) == slots - 1


@pytest.mark.parametrize("url", ["http://d4s2.example.org", "http://10.0.0.5:8000"])
def test_the_website_is_reached_over_https_unless_it_is_on_this_machine(url: str) -> None:
    """The website's token goes with every result: never in clear text over a network."""
    with pytest.raises(SettingsError) as raised:
        load_settings({**REQUIRED, "DDD_WEBSITE_URL": url})
    assert any(problem.startswith("DDD_WEBSITE_URL: must be https://")
               for problem in raised.value.problems)
    for local in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert load_settings({**REQUIRED, "DDD_WEBSITE_URL": local}).website_url == local


def test_links_are_built_from_the_configured_public_url_never_a_request() -> None:
    assert load_settings(REQUIRED).public_base_url is None
    on_azure = load_settings({**REQUIRED, "WEBSITE_HOSTNAME": "func-ddd-x.azurewebsites.net"})
    assert on_azure.public_base_url == "https://func-ddd-x.azurewebsites.net"
    local = load_settings({**REQUIRED, "WEBSITE_HOSTNAME": "127.0.0.1:7071"})
    assert local.public_base_url == "http://127.0.0.1:7071"
    chosen = load_settings({**REQUIRED, "WEBSITE_HOSTNAME": "func-ddd-x.azurewebsites.net",
                            "DDD_PUBLIC_URL": "https://transfers.example.edu/"})
    assert chosen.public_base_url == "https://transfers.example.edu"
    with pytest.raises(SettingsError):
        load_settings({**REQUIRED, "DDD_PUBLIC_URL": "http://transfers.example.edu"})


def test_the_outage_window_defaults_to_half_an_hour() -> None:
    assert load_settings(REQUIRED).outage_wait_minutes == 30
    assert load_settings({**REQUIRED, "DDD_OUTAGE_WAIT_MINUTES": "90"}).outage_wait_minutes == 90
    with pytest.raises(SettingsError):
        load_settings({**REQUIRED, "DDD_OUTAGE_WAIT_MINUTES": "0"})


def test_the_units_all_deliveries_share_default_to_one_window() -> None:
    assert load_settings(REQUIRED).shared_units is None  # the window: DDD_PARALLEL_CHUNKS
    assert load_settings({**REQUIRED, "DDD_SHARED_UNITS": "32"}).shared_units == 32
    with pytest.raises(SettingsError, match="DDD_SHARED_UNITS"):
        load_settings({**REQUIRED, "DDD_SHARED_UNITS": "0"})
