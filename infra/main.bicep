// ddd-transfer: everything `azd up` creates. This file only wires the modules in ./modules,
// one module per concern: access.bicep decides every role grant, roles.bicep makes each one.
// docs/deploy.md says what each resource is for and which roles are granted why.
targetScope = 'subscription'

// ---------------------------------------------------------------- parameters

@minLength(1)
@maxLength(64)
@description('azd environment name; it names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource (one that offers the Flex Consumption plan).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create or reuse. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@minLength(1)
@description('Comma-separated resource ids of what deliveries are copied FROM: a storage account (all its containers) or one container (<account id>/blobServices/default/containers/<name>). Each gets Storage Blob Data Reader there; each account Storage Blob Delegator.')
param sourceStorageAccountIds string

@minLength(1)
@description('Comma-separated resource ids of what deliveries are copied TO: a storage account (all its containers) or one container (<account id>/blobServices/default/containers/<name>). Each gets Storage Blob Data Contributor there.')
param sinkStorageAccountIds string

@description('Comma-separated resource ids, as in sourceStorageAccountIds, of the sources from which a delivery may delete its source folder once delivered, when it asks (an operator\'s start, a standing rule that moves). Each must be a source or a container of one; each gets Storage Blob Data Contributor there. Empty: only DDD_MOVE_ALWAYS sources move.')
param moveSourceIds string = ''

@description('Comma-separated resource ids, as in sourceStorageAccountIds, of the sources from which every delivery moves (the website\'s too). Each must be a source or a container of one; each gets Storage Blob Data Contributor there. Empty: none.')
param moveAlwaysIds string = ''

@description('Standing rules: deliveries that start when a run\'s completion flag lands, in the app\'s own format (DDD_STANDING_RULES, shared/core/rules.py). Each rule\'s source account must be a source. Each account with rules gets one Event Grid system topic, each rule one subscription to the run_completed function (made after the code is deployed: azure.yaml\'s postdeploy hook). Empty: no rules, nothing of Event Grid.')
param standingRules array = []

@description('Who gets read access (r-x, recursive, default ACL) on each delivered folder, per sink: <sink account>[/<container>]=user:<object id>,group:<object id>;... Only ADLS Gen2 sinks have ACLs. Empty: no grant.')
param deliveredFolderReaders string = ''

@minLength(1)
@description('Base URL of the delivery website (D4S2), for example https://ddd.example.edu.')
param websiteUrl string

@description('E-mail address that receives notifications. Empty: no Communication Services resources and no notification settings.')
param notificationEmail string = ''

@description('Also e-mail when a delivery succeeds (failed, refused, stale and unreported deliveries always are).')
param notifyOnSuccess bool = false

@description('Where Communication Services keeps its data, when notifications are on.')
param notificationDataLocation string = 'United States'

@description('Object id of the person, group or pipeline running the deployment (azd fills in who is signed in). It gets Key Vault Secrets Officer on the vault (only), to store the website token; Azure looks up which kind of principal it is. Empty: no such role.')
param deployerPrincipalId string = ''

@description('Memory of each Function App instance in MB: 2,048 (one core) or 4,096 (two). 512 MB instances cannot hold the app (modules/functionapp.bicep says why).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most Function App instances at once (1 to 1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Instances\' worth of copy units that all the deliveries copying at once share (modules/functionapp.bicep: DDD_SHARED_UNITS). A delivery alone keeps its whole window; several split these units evenly.')
@minValue(1)
@maxValue(1000)
param copyingInstances int = 4

@description('Always-ready instances for the durable group: 1 as Microsoft recommends for Durable Functions on Flex Consumption, 0 to scale to zero. At least 2 when zone-redundant.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 1

@description('Key Vault purge protection. Off by default: with it, `azd down` leaves the vault name taken for its retention period (7 days) and the same environment cannot be provisioned again until then; it cannot be turned off once on.')
param keyVaultPurgeProtection bool = false

@description('Spread Function App instances over availability zones (only in regions that offer it for Flex Consumption). Also makes the app storage account zone-redundant (Standard_ZRS) and keeps at least 2 durable instances always ready.')
param zoneRedundant bool = false

// ---------------------------------------------------------------- names

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'ddd-transfer'
}
var functionAppName = 'func-ddd-${resourceToken}'
var websiteTokenSecretName = 'd4s2-api-token'
var workContainerName = 'ddd-transfer-work'
var deploymentContainerName = 'app-package'
var notificationsEnabled = !empty(notificationEmail)

// An entry is an account's resource id,
//   /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>
// (after split('/'), index 2 is the subscription, 4 the resource group, 8 the account name),
// or one container's, that id followed by /blobServices/default/containers/<container>
// (index 12 the container; 13 segments instead of 9).
// Spaces and empty entries (a trailing comma, two commas in a row) are dropped before anything
// indexes an entry: split('', '/')[8] would fail the whole deployment.
var sourceIds = filter(split(replace(sourceStorageAccountIds, ' ', ''), ','), id => !empty(id))
var sinkIds = filter(split(replace(sinkStorageAccountIds, ' ', ''), ','), id => !empty(id))

// What the app may copy from and to (app settings DDD_SOURCE_ACCOUNTS and DDD_SINK_ACCOUNTS):
// exactly the accounts and containers access.bicep's role modules grant read or write roles on,
// taken from the lists they loop over with the same segments (`account` for an account id,
// `account/container` for a container id), so an allowed place always has its roles and a
// place with roles is always allowed. Storage account and container names are lowercase;
// toLower forgives an id typed with capitals, which ARM accepts. (For-expressions, not map():
// the Bicep parser of the pinned checkov knows filter() but not map().)
var sourceAccountList = [for id in sourceIds: length(split(id, '/')) > 12 ? toLower('${split(id, '/')[8]}/${split(id, '/')[12]}') : toLower(split(id, '/')[8])]
var sinkAccountList = [for id in sinkIds: length(split(id, '/')) > 12 ? toLower('${split(id, '/')[8]}/${split(id, '/')[12]}') : toLower(split(id, '/')[8])]
var sourceAccountNames = join(sourceAccountList, ',')
var sinkAccountNames = join(sinkAccountList, ',')

// A refusal: looking up a property `stop` does not have makes Azure Resource Manager stop the
// deployment, before anything is deployed, with "The language expression property '<the
// reason>' doesn't exist". (Bicep's fail() does the same, but checkov's Bicep parser does not
// know it.)
var stop = {
  stopped: true
}

// Moves (DDD_MOVE_SOURCES, DDD_MOVE_ALWAYS): the same entries and segments as the lists above.
// A move entry must be a source, or a container of an account-wide source: the app refuses to
// start otherwise, the deployment before.
var moveSourceIdList = filter(split(replace(moveSourceIds, ' ', ''), ','), id => !empty(id))
var moveAlwaysIdList = filter(split(replace(moveAlwaysIds, ' ', ''), ','), id => !empty(id))
var moveSourceKeys = [for id in moveSourceIdList: length(split(id, '/')) > 12 ? toLower('${split(id, '/')[8]}/${split(id, '/')[12]}') : toLower(split(id, '/')[8])]
var moveAlwaysKeys = [for id in moveAlwaysIdList: length(split(id, '/')) > 12 ? toLower('${split(id, '/')[8]}/${split(id, '/')[12]}') : toLower(split(id, '/')[8])]
var moveSourceList = [for key in moveSourceKeys: contains(sourceAccountList, key) || contains(sourceAccountList, split(key, '/')[0]) ? key : stop['moveSourceIds: ${key} is not a source (sourceStorageAccountIds) nor a container of one']]
var moveAlwaysList = [for key in moveAlwaysKeys: contains(sourceAccountList, key) || contains(sourceAccountList, split(key, '/')[0]) ? key : stop['moveAlwaysIds: ${key} is not a source (sourceStorageAccountIds) nor a container of one']]
var moveIdList = concat(moveSourceIdList, moveAlwaysIdList)
var moveList = concat(moveSourceList, moveAlwaysList)

// Standing rules, checked as the app checks them at load (a rule that could not run stops the
// app): its name its own, its source allowed, its sink allowed, and, when it moves, moving
// allowed there.
var ruleNames = [for rule in standingRules: rule.name]
var ruleSourceKeys = [for rule in standingRules: toLower('${rule.source.account}/${rule.source.container}')]
var ruleSinkKeys = [for rule in standingRules: toLower('${rule.sink.account}/${rule.sink.container}')]
var ruleSourceAllowed = [for key in ruleSourceKeys: contains(sourceAccountList, key) || contains(sourceAccountList, split(key, '/')[0])]
var ruleSinkAllowed = [for key in ruleSinkKeys: contains(sinkAccountList, key) || contains(sinkAccountList, split(key, '/')[0])]
var ruleMoveAllowed = [for (rule, i) in standingRules: !(rule.?move ?? false) || contains(moveList, ruleSourceKeys[i]) || contains(moveList, split(ruleSourceKeys[i], '/')[0])]
var checkedRules = [for (rule, i) in standingRules: indexOf(ruleNames, rule.name) != i ? stop['standingRules: two rules are named ${rule.name}'] : !ruleSourceAllowed[i] ? stop['standingRules: rule ${rule.name} reads ${ruleSourceKeys[i]}, not a source (sourceStorageAccountIds)'] : !ruleSinkAllowed[i] ? stop['standingRules: rule ${rule.name} writes ${ruleSinkKeys[i]}, not a sink (sinkStorageAccountIds)'] : !ruleMoveAllowed[i] ? stop['standingRules: rule ${rule.name} moves from ${ruleSourceKeys[i]}, not in moveSourceIds or moveAlwaysIds'] : rule]

// Event Grid: one system topic per source account with rules (an account can have only one),
// in that account's resource group and region; the account's id is its source entry's.
var sourceAccountIds = [for id in sourceIds: toLower(join(take(split(id, '/'), 9), '/'))]
var sourceAccountIdNames = [for id in sourceAccountIds: split(id, '/')[8]]
var ruleAccounts = [for rule in checkedRules: toLower(rule.source.account)]
var ruleAccountFirsts = [for (account, i) in ruleAccounts: indexOf(ruleAccounts, account) == i ? account : '']
var eventAccountIds = [for account in filter(ruleAccountFirsts, account => !empty(account)): sourceAccountIds[indexOf(sourceAccountIdNames, account)]]

// ---------------------------------------------------------------- resource group

resource rg 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

// ---------------------------------------------------------------- modules

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-ddd-${resourceToken}'
    appInsightsName: 'appi-ddd-${resourceToken}'
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'id-ddd-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'stddd${resourceToken}'
    // Host state and the task hub must outlive a zone when the app does.
    skuName: zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'
    deploymentContainerName: deploymentContainerName
    workContainerName: workContainerName
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'kv-ddd-${take(resourceToken, 13)}'
    purgeProtection: keyVaultPurgeProtection
  }
}

module notifications 'modules/notifications.bicep' = if (notificationsEnabled) {
  name: 'notifications'
  scope: rg
  params: {
    tags: tags
    communicationServiceName: 'acs-ddd-${resourceToken}'
    emailServiceName: 'ecs-ddd-${resourceToken}'
    dataLocation: notificationDataLocation
  }
}

module alerts 'modules/alerts.bicep' = if (notificationsEnabled) {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    appInsightsName: monitoring.outputs.appInsightsName
    actionGroupName: 'ag-ddd-${resourceToken}'
    alertName: 'alert-ddd-failed-${resourceToken}'
    operatorEmail: notificationEmail
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: 'plan-ddd-${resourceToken}'
    appName: functionAppName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    copyingInstances: copyingInstances
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    zoneRedundant: zoneRedundant
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    workContainerName: storage.outputs.workContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    keyVaultUri: keyVault.outputs.uri
    websiteTokenSecretName: websiteTokenSecretName
    websiteUrl: websiteUrl
    sourceAccounts: sourceAccountNames
    sinkAccounts: sinkAccountNames
    moveSources: join(moveSourceList, ',')
    moveAlways: join(moveAlwaysList, ',')
    standingRules: string(checkedRules)
    deliveredFolderReaders: deliveredFolderReaders
    notifyEndpoint: notificationsEnabled ? notifications.outputs.endpoint : ''
    notifySender: notificationsEnabled ? notifications.outputs.senderAddress : ''
    notifyTo: notificationEmail
    notifyOnSuccess: notifyOnSuccess
  }
}

// ---------------------------------------------------------------- access

// Every role the deployment grants: the app's identity on its own resources and on the source,
// sink and move entries (each in the entry's own resource group), the deployer on the vault.
module access 'modules/access.bicep' = {
  name: 'access'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    notificationsEnabled: notificationsEnabled
    communicationServiceName: notificationsEnabled ? notifications.outputs.communicationServiceName : ''
    emailSenderRoleId: notificationsEnabled ? notifications.outputs.emailSenderRoleId : ''
    sourceIds: sourceIds
    sinkIds: sinkIds
    moveIds: moveIdList
    moveKeys: moveList
    resourceToken: resourceToken
  }
}

// ---------------------------------------------------------------- standing rules: Event Grid

// Each rule account's system topic, in the account's resource group and region, made here. The
// rules' subscriptions name the run_completed function, which exists only once the code is
// deployed: azure.yaml's postdeploy hook deploys this same module with EVENT_GRID_DEPLOYMENTS
// (below), subscriptions on (docs/deploy.md, Event Grid).
resource eventSourceAccounts 'Microsoft.Storage/storageAccounts@2024-01-01' existing = [for id in eventAccountIds: {
  name: split(id, '/')[8]
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
}]

module events 'modules/events.bicep' = [for (id, i) in eventAccountIds: {
  name: 'events-${i}-${resourceToken}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    location: eventSourceAccounts[i].location
    tags: tags
    accountName: split(id, '/')[8]
    rules: checkedRules
    functionAppId: functionApp.outputs.id
    subscriptionPrefix: 'ddd-${resourceToken}-'
    subscriptions: false
  }
}]

// ---------------------------------------------------------------- outputs (azd stores them in .azure/<env>/.env)

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_WEBSITE_TOKEN_SECRET string = websiteTokenSecretName
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId

// What the postdeploy hook (infra/hooks/event_subscriptions.py) deploys: modules/events.bicep once
// per rule account, with the parameters above and the subscriptions on.
output EVENT_GRID_DEPLOYMENTS array = [for (id, i) in eventAccountIds: {
  subscriptionId: split(id, '/')[2]
  resourceGroup: split(id, '/')[4]
  name: 'event-subscriptions-${i}-${resourceToken}'
  parameters: {
    location: eventSourceAccounts[i].location
    tags: tags
    accountName: split(id, '/')[8]
    rules: checkedRules
    functionAppId: functionApp.outputs.id
    subscriptionPrefix: 'ddd-${resourceToken}-'
    subscriptions: true
  }
}]
