// Event Grid for the standing rules of one source storage account: the account's system topic
// and, with `subscriptions`, one subscription per rule that sends the rule's completion flags
// to the app's Event Grid-triggered function `run_completed`.
//
// main.bicep deploys this module at provision, into the account's resource group, with
// `subscriptions` off: a subscription with an Azure Function destination is refused ("Destination
// endpoint not found") until the function exists, and azd provisions before it deploys the code.
// azure.yaml's postdeploy hook (infra/hooks/event_subscriptions.py) deploys it again after the
// code, with main.bicep's output EVENT_GRID_DEPLOYMENTS: the same parameters, `subscriptions` on.
// docs/deploy.md (Event Grid) says why, and what is left when a rule goes.

@description('Region of the storage account: a system topic lives in its source\'s region.')
param location string

@description('Tags of the system topic.')
param tags object = {}

@description('The source storage account (in this resource group) whose blob events are wanted.')
param accountName string

@description('The standing rules (shared/core/rules.py), all of them; those reading this account get a subscription.')
param rules array

@description('Resource id of the Function App.')
param functionAppId string

@description('Start of each subscription\'s name (ddd-<resource token>-): two environments may have rules on one account, and the hook knows its own subscriptions by it.')
param subscriptionPrefix string

@description('Also make the rules\' subscriptions: only once run_completed is deployed.')
param subscriptions bool = false

// The function the app registers from endpoints/run_completed.py (its NAME).
var functionName = 'run_completed'

var accountRules = filter(rules, rule => toLower(rule.source.account) == accountName)

// The blob path a flag's subject starts with: `<prefix>/`, or nothing for a container's top. The
// app drops one trailing '/' of a rule's prefix, and takes a prefix of only slashes for none.
var subjectPrefixes = [for rule in accountRules: empty(replace(rule.source.?prefix ?? '', '/', '')) ? '' : endsWith(rule.source.prefix, '/') ? rule.source.prefix : '${rule.source.prefix}/']

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: accountName
}

// One per account (Azure refuses a second system topic for the same source).
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: 'evgt-${accountName}'
  location: location
  tags: tags
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// The filter is shared/core/rules.py's event_filter(rule), which the operators' `rules list`
// shows: BlobCreated, under <container>/blobs/<prefix>/, ending in /<flag>. The app matches
// again (a run folder directly under the prefix, the flag's exact name) and starts each run
// folder's delivery once, so a repeated or wider event starts nothing more.
//
// Delivery: Event Grid retries a failed call (the function raising, the app unreachable) for up
// to 30 attempts within 24 hours, then drops the event; no dead-lettering (docs/deploy.md).
resource runCompleted 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [for (rule, i) in accountRules: if (subscriptions) {
  parent: topic
  name: '${subscriptionPrefix}${rule.name}'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${rule.source.container}/blobs/${subjectPrefixes[i]}'
      advancedFilters: [
        {
          operatorType: 'StringEndsWith'
          key: 'subject'
          values: [for flag in rule.flags: '/${flag}']
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}]

output topicName string = topic.name
output subscriptionNames array = [for rule in accountRules: '${subscriptionPrefix}${rule.name}']
