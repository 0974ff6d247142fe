"""Every setting the app reads is set by the Bicep, and only shared/core/config.py reads the
environment. Run against the real tree, and against small synthetic trees to prove the checks
can fail."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from app_code import CONFIG_MODULE, Place, environment_readers, settings_read
from bicep import BicepFile, text_of
from deployment import ALLOW_LISTS, FUNCTION_APP_MODULE, REPO_ROOT, app_settings

# Settings the code reads that Azure must NOT set, each with the reason.
LOCAL_ONLY = {
    "DDD_STORAGE_ACCOUNT_KEYS": (
        "Account keys for Azurite only. In Azure the app uses its managed identity and user "
        "delegation SAS; setting keys there would bring back the shared-key access this "
        "deployment disables."
    ),
    "DDD_WEBSITE_TOKEN": (
        "The website token for local runs. In Azure the app reads it from Key Vault itself "
        "(DDD_KEY_VAULT_URL, DDD_WEBSITE_TOKEN_SECRET), so a rotation needs no restart."
    ),
}

# Settings Azure App Service / Functions sets by itself on every app (none read today).
PLATFORM_PROVIDED = {
    "WEBSITE_HOSTNAME": "Set by the platform to the app's default host name.",
    "WEBSITE_SITE_NAME": "Set by the platform to the app's name.",
}

# Set only when the optional notifications module is enabled (notificationEmail given).
OPTIONAL_WHEN_ENABLED = {
    "DDD_NOTIFY_EMAIL_ENDPOINT": "Communication Services endpoint.",
    "DDD_NOTIFY_SENDER": "Sender address on the Azure-managed e-mail domain.",
    "DDD_NOTIFY_TO": "The deployer's notification address.",
    "DDD_NOTIFY_ON_SUCCESS": "Also e-mail successful deliveries.",
}

ALLOWED_UNSET = set(LOCAL_ONLY) | set(PLATFORM_PROVIDED)


def missing_settings(root: Path, allowed_unset: set[str]) -> dict[str, list[Place]]:
    """Settings the code under `root` reads that the Function App module does not set."""
    settings = app_settings(root / FUNCTION_APP_MODULE)
    return {name: places for name, places in sorted(settings_read(root).items())
            if name not in settings.names and name not in allowed_unset}


def _report(missing: dict) -> str:
    return "\n".join(
        f"  {name} (read at {', '.join(str(place) for place in places)})"
        for name, places in missing.items()
    )


# ---------------------------------------------------------------- the real tree


def test_every_setting_the_app_reads_is_set_by_the_bicep():
    missing = missing_settings(REPO_ROOT, ALLOWED_UNSET)
    assert not missing, (
        f"The app reads settings that {FUNCTION_APP_MODULE} does not set; add them to its "
        f"appSettings (or, for local-only ones, to LOCAL_ONLY with a reason):\n{_report(missing)}"
    )


def test_only_the_config_module_reads_the_environment():
    offenders = environment_readers(REPO_ROOT)
    assert not offenders, (
        f"Only {CONFIG_MODULE} may read the environment (settings are checked in one place):\n"
        + "\n".join(f"  {place}: {how}" for place, how in offenders)
    )


def test_the_scan_sees_the_config_module_when_it_exists():
    """Guards the cross-check itself: if shared/core/config.py exists, the scan must find names in
    it (a scanner that finds nothing would pass the test above vacuously)."""
    if not (REPO_ROOT / CONFIG_MODULE).exists():
        pytest.skip(f"{CONFIG_MODULE} is not written yet")
    read = settings_read(REPO_ROOT)
    in_config = {name for name, places in read.items()
                 if any(place.path == CONFIG_MODULE.as_posix() for place in places)}
    assert in_config, f"no setting name found in {CONFIG_MODULE}"


def test_local_only_settings_are_not_set_in_azure():
    settings = app_settings(REPO_ROOT / FUNCTION_APP_MODULE)
    assert not set(LOCAL_ONLY) & settings.names


def test_notification_settings_are_set_only_when_enabled():
    settings = app_settings(REPO_ROOT / FUNCTION_APP_MODULE)
    assert set(OPTIONAL_WHEN_ENABLED) <= set(settings.conditional)
    assert not set(OPTIONAL_WHEN_ENABLED) & set(settings.always)


def test_the_bicep_sets_no_app_setting_the_code_does_not_read():
    """The reverse direction, once the config module exists: a DDD_ setting in the Bicep that
    no code reads is a leftover or a typo."""
    if not (REPO_ROOT / CONFIG_MODULE).exists():
        pytest.skip(f"{CONFIG_MODULE} is not written yet")
    settings = app_settings(REPO_ROOT / FUNCTION_APP_MODULE)
    read = set(settings_read(REPO_ROOT))
    ours = {name for name in settings.names if name.startswith("DDD_")} | {"AZURE_CLIENT_ID"}
    stale = ours - read - set(OPTIONAL_WHEN_ENABLED)
    assert not stale, f"set in {FUNCTION_APP_MODULE} but read by no code: {sorted(stale)}"


def test_tuning_defaults_in_the_bicep_equal_the_app_defaults():
    """Each tuning setting the Bicep sets from a numeric parameter uses the app's own default."""
    if not (REPO_ROOT / CONFIG_MODULE).exists():
        pytest.skip(f"{CONFIG_MODULE} is not written yet")
    from shared.core.config import Settings

    app_defaults = {
        field.alias: field.default
        for field in Settings.model_fields.values()
        if isinstance(field.default, int | float) and not isinstance(field.default, bool)
    }
    bicep = REPO_ROOT / FUNCTION_APP_MODULE
    params = BicepFile.read(bicep).params
    compared = 0
    for name, value in app_settings(bicep).always.items():
        match = re.fullmatch(r"(?:string\()?(\w+)\)?", text_of(value))
        if name not in app_defaults or not match or match.group(1) not in params:
            continue
        default = params[match.group(1)].default
        assert default is not None, f"{name}: parameter {match.group(1)} has no default"
        assert float(text_of(default).strip("'")) == float(app_defaults[name]), (
            f"{name}: Bicep default {text_of(default)} != app default {app_defaults[name]}")
        compared += 1
    assert compared >= 9, f"only {compared} tuning settings compared"


def test_the_website_token_is_read_from_the_vault_by_the_app():
    settings = app_settings(REPO_ROOT / FUNCTION_APP_MODULE)
    assert text_of(settings.always["DDD_KEY_VAULT_URL"]) == "keyVaultUri"
    assert text_of(settings.always["DDD_WEBSITE_TOKEN_SECRET"]) == "websiteTokenSecretName"
    assert "DDD_WEBSITE_TOKEN" not in settings.names


# ---------------------------------------------------------------- synthetic trees: the checks fail


FUNCTION_APP_BICEP = """\
var base = {
  // a comment with DDD_COMMENTED: 'x'
  DDD_PRESENT: 'https://{account}.blob.${environment().suffixes.storage}'
  'DDD_QUOTED': string(5)
  DDD_NESTED: union(tags, { DDD_NOT_A_SETTING: 'tag' })
}
var extra = enabled ? {
  DDD_OPTIONAL: 'x'
} : {}
resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(base, extra)
}
"""


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    bicep = tmp_path / FUNCTION_APP_MODULE
    if not bicep.exists():
        bicep.parent.mkdir(parents=True, exist_ok=True)
        bicep.write_text(FUNCTION_APP_BICEP)
    return tmp_path


def test_a_setting_read_but_not_set_fails_the_check(tmp_path):
    root = _tree(tmp_path, {
        "shared/core/config.py": """\
            import os
            NAMES = ("DDD_PRESENT", "DDD_OPTIONAL", "DDD_UNSET_IN_BICEP")
            token = os.environ.get("AZURE_CLIENT_ID")
            mentioned = "set DDD_NOT_A_READ in the docs"
        """,
        "orchestrators/flow.py": 'LIMIT = "DDD_ALSO_UNSET"\n',
        "devhost/local.py": 'IGNORED = "DDD_ONLY_IN_DEVHOST"\n',
        "tests/test_x.py": 'IGNORED = "DDD_ONLY_IN_TESTS"\n',
    })
    missing = missing_settings(root, allowed_unset=set())
    assert set(missing) == {"DDD_UNSET_IN_BICEP", "DDD_ALSO_UNSET", "AZURE_CLIENT_ID"}
    assert [str(place) for place in missing["DDD_ALSO_UNSET"]] == ["orchestrators/flow.py:1"]
    # An allowlisted name is no longer reported.
    assert "AZURE_CLIENT_ID" not in missing_settings(root, allowed_unset={"AZURE_CLIENT_ID"})


def test_environment_reads_by_any_spelling_are_found(tmp_path):
    root = _tree(tmp_path, {
        "shared/core/config.py": "import os\nA = os.environ['DDD_PRESENT']\n",
        "function_app.py": "import os as system\nB = system.getenv('SOME_PLATFORM_THING')\n",
        "activities/copy.py": "import os\nC = os.environ.get('DDD_QUOTED', '')\n",
    })
    assert set(settings_read(root)) == {"DDD_PRESENT", "SOME_PLATFORM_THING", "DDD_QUOTED"}
    assert set(missing_settings(root, allowed_unset=set())) == {"SOME_PLATFORM_THING"}


def test_a_module_other_than_config_reading_the_environment_fails(tmp_path):
    root = _tree(tmp_path, {
        "shared/core/config.py": "import os\nENV = os.environ\n",
        "activities/copy.py": "import os\nTHREADS = os.getenv('DDD_COPY_THREADS')\n",
        "shared/website/callback.py": "from os import environ\nURL = environ['DDD_WEBSITE_URL']\n",
        "endpoints/start.py": "import os\nPATH = os.path.join('a', 'b')\n",
        "devhost/run.py": "import os\nos.environ['X'] = '1'\n",
    })
    offenders = [(str(place), how) for place, how in environment_readers(root)]
    assert offenders == [
        ("activities/copy.py:2", "os.getenv"),
        ("shared/website/callback.py:1", "from os import environ"),
    ]


def test_allow_lists_are_required_settings_the_bicep_always_sets(tmp_path):
    """Once shared/core/config.py reads them as required Field aliases, the cross-check finds them
    set (simulated here on a tree with the real functionapp.bicep, whatever config.py says
    today)."""
    settings = app_settings(REPO_ROOT / FUNCTION_APP_MODULE)
    assert set(ALLOW_LISTS.values()) <= set(settings.always)
    config = """\
        from pydantic import BaseModel, Field
        class Settings(BaseModel):
            source_accounts: str = Field(alias="DDD_SOURCE_ACCOUNTS")
            sink_accounts: str = Field(alias="DDD_SINK_ACCOUNTS")
    """
    real = _tree(tmp_path / "real", {
        "shared/core/config.py": config,
        FUNCTION_APP_MODULE.as_posix(): (REPO_ROOT / FUNCTION_APP_MODULE).read_text(),
    })
    assert set(settings_read(real)) == set(ALLOW_LISTS.values())
    assert missing_settings(real, allowed_unset=set()) == {}
    without = _tree(tmp_path / "without", {"shared/core/config.py": config})
    assert set(missing_settings(without, allowed_unset=set())) == set(ALLOW_LISTS.values())
