// The app's own storage account. It holds:
// - the Functions host state and the Durable Functions task hub (queues, tables, blob leases),
// - the Flex Consumption deployment package (deployment container),
// - the work container (manifests and other state the app keeps between steps).
// Shared-key (account key) access is disabled: the app reaches it with its managed identity
// only, so no key or connection string exists anywhere.

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Replication. Standard_LRS is enough for transient task-hub and work state; choose Standard_ZRS for zone redundancy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_LRS'

@description('Blob container that receives the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Blob container the app uses for its own work files (DDD_WORK_CONTAINER).')
param workContainerName string

@description('Days the work files (plan pages, per-file results, callback bodies) are kept. The manifest and checksum file live with the delivered data; these are the app\'s scratch.')
@minValue(7)
param workRetentionDays int = 90

@description('Days a deleted blob or container can still be restored.')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    // checkov:skip=CKV_AZURE_35:Network default action stays Allow: Flex Consumption without VNet integration reaches storage over public endpoints (private networking is a follow-up, see docs/deploy.md).
    // checkov:skip=CKV_AZURE_59:Public network access stays enabled for the same reason as CKV_AZURE_35; every request still needs an Entra token (shared keys are off).
    // checkov:skip=CKV_AZURE_206:Replication is a parameter (skuName); LRS is the default for transient state, pick ZRS/GRS there.
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    isHnsEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource workContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: workContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The work container would otherwise grow with every delivery.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2024-01-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'expire-work-files'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${workContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: workRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output workContainerName string = workContainer.name
