// Who may do what, where: every role the deployment grants, and why. Each grant is made by
// roles.bicep, the one module that creates role assignments, on a single resource; the `why`
// texts become the assignments' descriptions, and docs/deploy.md (Role assignments) lists them.
//
// main.bicep deploys this module into the app's resource group: the app's identity and the
// deployer get their roles there. The app's roles on the source, sink and move entries go to
// each entry's own resource group (and possibly subscription). An entry is a storage account's
// resource id, or one container's: that id followed by /blobServices/default/containers/<name>
// (after split('/'): index 2 the subscription, 4 the resource group, 8 the account, 12 the
// container). A container entry is granted on that container only, an account entry on the
// whole account (least privilege when the containers are known).

@description('Object (principal) id of the app\'s user-assigned managed identity.')
param principalId string

@description('Object id of the person, group or pipeline running the deployment; empty: no role for it.')
param deployerPrincipalId string

@description('The app\'s own storage account (host storage, task hub, work container), in this resource group.')
param storageAccountName string

@description('The Key Vault, in this resource group.')
param keyVaultName string

@description('The Application Insights component, in this resource group.')
param appInsightsName string

@description('Notifications are on: the app sends e-mail through communicationServiceName.')
param notificationsEnabled bool

@description('The Communication Services resource, in this resource group (with notificationsEnabled).')
param communicationServiceName string

@description('The e-mail sender custom role\'s id, a GUID (with notificationsEnabled).')
param emailSenderRoleId string

@description('The source entries (resource ids), none empty: what deliveries copy from.')
param sourceIds array

@description('The sink entries (resource ids), none empty: what deliveries copy to.')
param sinkIds array

@description('The move entries (resource ids), none empty: where a delivered source folder may be deleted.')
param moveIds array

@description('Each move entry as the app names it (<account> or <account>/<container>), in moveIds\' order, as main.bicep checked it: an entry named before is granted once.')
param moveKeys array

@description('Ends the names of the deployments into the entries\' resource groups, which other environments may share.')
param resourceToken string

// The account of each source entry, as an id: Storage Blob Delegator (the user delegation key
// is an account-wide operation) is granted once per account, by the first entry naming it.
var sourceAccountIds = [for id in sourceIds: toLower(join(take(split(id, '/'), 9), '/'))]

var readWhy = 'List the delivered folder and read its files and MD5s.'
var writeWhy = 'Create the destination folder and its directories, copy files in, read them back to verify MD5s, grant read ACLs on what it created (an owner may).'
var moveWhy = 'Move: delete the delivered source files (If-Match the copied ETag) and then the empty folders, once the result is acknowledged.'

// ---------------------------------------------------------------- in the app's resource group

// The app's identity, on its own resources.
module appRoles 'roles.bicep' = {
  name: 'roles-app'
  params: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    storageRoles: [
      {
        account: storageAccountName
        role: 'StorageBlobDataOwner'
        why: 'Functions host storage by identity (blob leases, host keys, deployment package) and the work container.'
      }
      {
        account: storageAccountName
        role: 'StorageQueueDataContributor'
        why: 'Durable Functions task hub control and work-item queues.'
      }
      {
        account: storageAccountName
        role: 'StorageTableDataContributor'
        why: 'Durable Functions task hub history and instance tables.'
      }
    ]
    keyVaultRoles: [
      {
        vault: keyVaultName
        role: 'KeyVaultSecretsUser'
        why: 'Read the website token (Key Vault reference) and per-account secrets.'
      }
    ]
    appInsightsRoles: [
      {
        component: appInsightsName
        role: 'MonitoringMetricsPublisher'
        why: 'Send telemetry with Entra authentication (local auth is disabled).'
      }
    ]
    communicationRoles: notificationsEnabled ? [
      {
        service: communicationServiceName
        role: emailSenderRoleId
        why: 'Send notification e-mail.'
      }
    ] : []
  }
}

// The person or pipeline that deploys: may write the website token into the vault, nothing else.
module deployerRoles 'roles.bicep' = if (!empty(deployerPrincipalId)) {
  name: 'roles-deployer'
  params: {
    principalId: deployerPrincipalId
    keyVaultRoles: [
      {
        vault: keyVaultName
        role: 'KeyVaultSecretsOfficer'
        why: 'Store the D4S2 API token (az keyvault secret set).'
      }
    ]
  }
}

// ---------------------------------------------------------------- in each entry's resource group

// Sources: read where the entry points.
module sourceRoles 'roles.bicep' = [for (id, i) in sourceIds: {
  name: 'roles-source-${i}-${resourceToken}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    storageRoles: concat(length(split(id, '/')) > 12 ? [] : [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDataReader'
        why: readWhy
      }
    ], indexOf(sourceAccountIds, sourceAccountIds[i]) == i ? [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDelegator'
        why: 'Get a user delegation key to sign the read SAS used for server-side copies (it reads no more than the read role allows).'
      }
    ] : [])
    containerRoles: length(split(id, '/')) > 12 ? [
      {
        account: split(id, '/')[8]
        container: split(id, '/')[12]
        role: 'StorageBlobDataReader'
        why: readWhy
      }
    ] : []
  }
}]

// Sinks: write the delivered files where the entry points.
module sinkRoles 'roles.bicep' = [for (id, i) in sinkIds: {
  name: 'roles-sink-${i}-${resourceToken}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    storageRoles: length(split(id, '/')) > 12 ? [] : [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDataContributor'
        why: writeWhy
      }
    ]
    containerRoles: length(split(id, '/')) > 12 ? [
      {
        account: split(id, '/')[8]
        container: split(id, '/')[12]
        role: 'StorageBlobDataContributor'
        why: writeWhy
      }
    ] : []
  }
}]

// Move sources: delete a delivered source folder's files once the result is acknowledged, where
// the entry points; an entry listed twice is granted once.
module moveRoles 'roles.bicep' = [for (id, i) in moveIds: if (indexOf(moveKeys, moveKeys[i]) == i) {
  name: 'roles-move-${i}-${resourceToken}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    storageRoles: length(split(id, '/')) > 12 ? [] : [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDataContributor'
        why: moveWhy
      }
    ]
    containerRoles: length(split(id, '/')) > 12 ? [
      {
        account: split(id, '/')[8]
        container: split(id, '/')[12]
        role: 'StorageBlobDataContributor'
        why: moveWhy
      }
    ] : []
  }
}]
