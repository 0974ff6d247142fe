"""The Key Vault holding the website token."""

from __future__ import annotations

from bicep import BicepFile, object_entries, text_of
from deployment import REPO_ROOT

KEY_VAULT = REPO_ROOT / "infra" / "modules" / "keyvault.bicep"


def test_key_vault_uses_rbac_and_soft_delete():
    (vault,) = BicepFile.read(KEY_VAULT).resources_of_type("Microsoft.KeyVault/vaults")
    properties = object_entries(vault.body["properties"])
    for setting in ("enableRbacAuthorization", "enableSoftDelete"):
        assert text_of(properties[setting]) == "true", setting
