// Key Vault for the website's API token (and any per-account secrets later).
// RBAC authorization only (no access policies), soft delete and purge protection on.
// The vault is created empty: the deployer stores the token with `az keyvault secret set`
// (README.md, Deploy), so the secret never passes through a template, a parameter file or a
// deployment history. The Function App reads it through a Key Vault reference.

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Vault name (3-24 letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Days a deleted vault or secret can be recovered (7-90). Purge protection keeps it for that long.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109:No firewall: Flex Consumption cannot resolve Key Vault references against a network-restricted vault (Flex Consumption plan considerations), and the app is not VNet-integrated.
    // checkov:skip=CKV_AZURE_189:Public network access stays enabled for the same reason as CKV_AZURE_109; access still needs an Entra token and an RBAC role.
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
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
