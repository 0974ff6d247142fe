// Key Vault for the website's API token (and any per-account secrets later).
// RBAC authorization only (no access policies), soft delete on; purge protection optional.
// The vault is created empty: the deployer stores the token with `az keyvault secret set`
// (docs/deploy.md), so the secret never passes through a template, a parameter file or a
// deployment history. The app reads it with its managed identity.

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Vault name (3-24 letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(24)
param name string

// The vault's name comes from the environment, so a deleted vault that still holds its name
// keeps `azd provision` of the same environment from creating it again. `azd down --purge`
// frees the name at once unless purge protection is on; a vault left soft-deleted holds it
// for the retention period, so that is the 7-day minimum (it cannot change after creation).
@description('Days a deleted vault or secret can be recovered (7-90); the vault name stays taken as long.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

// Purge protection forbids purging a deleted vault: its name is then taken for the whole
// retention period whatever `azd down` asks, and it can never be turned off again. The vault
// holds one secret the website can issue anew, so it is off by default; turn it on for an
// environment that is never torn down and re-created under the same name.
@description('Purge protection (irreversible; a deleted vault then keeps its name for the retention period).')
param purgeProtection bool = false

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109:No firewall: Flex Consumption cannot resolve Key Vault references against a network-restricted vault (Flex Consumption plan considerations), and the app is not VNet-integrated.
    // checkov:skip=CKV_AZURE_189:Public network access stays enabled for the same reason as CKV_AZURE_109; access still needs an Entra token and an RBAC role.
    // checkov:skip=CKV_AZURE_110:Purge protection is the purgeProtection parameter, off by default: on, a torn-down environment cannot be provisioned again under its name for the retention period (see the parameter).
    // checkov:skip=CKV_AZURE_42:Soft delete is on (7 days); purge protection, which this check also asks for, is the purgeProtection parameter, for the reason given on CKV_AZURE_110.
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Off is the property left out: Azure accepts no false here.
    enablePurgeProtection: purgeProtection ? true : null
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
