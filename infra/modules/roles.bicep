// Every role assignment of the deployment is made by this one module, always on a single
// resource (a storage account or one of its containers, the vault, the Application Insights
// component, the Communication Services resource), never on a resource group or a
// subscription.
//
// access.bicep, which decides every grant, deploys it into the app's resource group and into
// the resource group of each source, sink and move entry (those may live in other resource
// groups or subscriptions). Names are guid(scope, principal, role), so a re-deployment finds
// the same assignments instead of adding duplicates.
//
// Each list item names a resource in this module's resource group and a role: either a key of
// `builtInRoles` below or the GUID of a custom role definition in the same subscription.

@description('Object (principal) id that receives the roles.')
param principalId string

// The principal's kind, when it is known here. The app's managed identity is created in the
// same deployment, so its kind is given: Azure then assigns at once instead of looking up an
// identity the directory may not have replicated yet. The deployer's kind is left empty and
// Azure looks it up: it may be a person, a group or a pipeline's service principal, and a
// wrong kind fails the assignment (UnmatchedPrincipalType).
@description('ServicePrincipal for the managed identity this deployment creates; empty: Azure looks the kind up.')
@allowed([
  ''
  'ServicePrincipal'
])
param principalType string = ''

@description('Storage account roles: [{ account: <name>, role: <role>, why: <text> }].')
param storageRoles array = []

@description('Blob container roles: [{ account: <name>, container: <name>, role: <role>, why: <text> }].')
param containerRoles array = []

@description('Key Vault roles: [{ vault: <name>, role: <role>, why: <text> }].')
param keyVaultRoles array = []

@description('Application Insights roles: [{ component: <name>, role: <role>, why: <text> }].')
param appInsightsRoles array = []

@description('Communication Services roles: [{ service: <name>, role: <role>, why: <text> }].')
param communicationRoles array = []

// Built-in role definition ids (the same in every tenant).
var builtInRoles = {
  StorageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  StorageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  StorageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  StorageBlobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  StorageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  StorageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  KeyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  KeyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  MonitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storageAccounts 'Microsoft.Storage/storageAccounts@2024-01-01' existing = [for item in storageRoles: {
  name: item.account
}]

resource storageAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (item, i) in storageRoles: {
  name: guid(storageAccounts[i].id, principalId, contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
  scope: storageAccounts[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
    description: item.why
  }
}]

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = [for item in containerRoles: {
  name: '${item.account}/default/${item.container}'
}]

resource containerAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (item, i) in containerRoles: {
  name: guid(containers[i].id, principalId, contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
    description: item.why
  }
}]

resource vaults 'Microsoft.KeyVault/vaults@2024-11-01' existing = [for item in keyVaultRoles: {
  name: item.vault
}]

resource vaultAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (item, i) in keyVaultRoles: {
  name: guid(vaults[i].id, principalId, contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
  scope: vaults[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
    description: item.why
  }
}]

resource components 'Microsoft.Insights/components@2020-02-02' existing = [for item in appInsightsRoles: {
  name: item.component
}]

resource componentAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (item, i) in appInsightsRoles: {
  name: guid(components[i].id, principalId, contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
  scope: components[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
    description: item.why
  }
}]

resource communicationServices 'Microsoft.Communication/communicationServices@2023-04-01' existing = [for item in communicationRoles: {
  name: item.service
}]

resource communicationAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (item, i) in communicationRoles: {
  name: guid(communicationServices[i].id, principalId, contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
  scope: communicationServices[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contains(builtInRoles, item.role) ? builtInRoles[item.role] : item.role)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
    description: item.why
  }
}]
