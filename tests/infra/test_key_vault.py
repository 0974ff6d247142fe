"""The Key Vault holding the website token: RBAC, soft delete, and an environment that can be
provisioned again after `azd down`."""

from __future__ import annotations

from deployment import REPO_ROOT, main_scope


def _vault(given: dict[str, object]) -> dict[str, object]:
    (deployed,) = main_scope(REPO_ROOT, given).module_deployments("keyVault")
    (vault,) = deployed.scope.file.resources_of_type("Microsoft.KeyVault/vaults")
    (body,) = deployed.scope.resource_bodies(vault)
    properties = body["properties"]
    assert isinstance(properties, dict)
    return properties


def test_key_vault_uses_rbac_and_soft_delete(given):
    properties = _vault(given)
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True


def test_a_torn_down_environment_can_be_provisioned_again(given):
    """`azd down` deletes the vault into soft delete. With purge protection its name (derived
    from the environment) stays taken for the whole retention period, and provisioning the same
    environment fails until then. By default the vault has none, so `azd down --purge` frees
    the name at once, and a vault left soft-deleted holds it for the 7-day minimum. Off is the
    property left out: Azure refuses enablePurgeProtection false."""
    properties = _vault(given)
    assert properties.get("enablePurgeProtection") is None
    assert properties["softDeleteRetentionInDays"] == 7


def test_purge_protection_is_one_parameter_away(given):
    properties = _vault({**given, "keyVaultPurgeProtection": True})
    assert properties["enablePurgeProtection"] is True
