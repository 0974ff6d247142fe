// An alert on failed deliveries, e-mailed to the operators' address.
// The app logs one line per delivery outcome, `ddd.delivery.outcome {json}` (shared/operations/telemetry.py,
// shared/operations/notify.py); the rule counts those whose phase is failed, refused, stale, unreported,
// cancelled, delivered-website-error (the website may not have e-mailed the recipients) or
// delivered-source-kept (a move left source files that changed after they were copied) in
// Application Insights and fires on one or more. main.bicep deploys this module only when a
// notification address is given.

@description('Azure region of the alert rule.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Name of the Application Insights component the app logs to.')
param appInsightsName string

@description('Name of the action group.')
param actionGroupName string

@description('Name of the alert rule.')
param alertName string

@description('Address that receives the alert.')
param operatorEmail string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'ddd-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: operatorEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// One failure, one alert (the app has mailed the operators already; this is the backstop).
// The rule runs every evaluationMinutes and looks back over the lines written in the last
// evaluationMinutes + lateMinutes (a line can reach Application Insights minutes after it was
// written), but counts only those ingested since its previous run: each line is ingested once,
// so exactly one run counts it. Stateless (autoMitigate false): each run that counts a line
// alerts.
var evaluationMinutes = 5
var lateMinutes = 10

resource failedDeliveries 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: alertName
  location: location
  tags: tags
  properties: {
    displayName: 'ddd-transfer: failed deliveries'
    description: 'A delivery failed, was refused, went stale, could not be reported to the website, was cancelled, or kept source files a move should have deleted. See the e-mail the app sent, or GET /api/deliveries?status=failed,terminated with the admin key.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT${evaluationMinutes}M'
    windowSize: 'PT${evaluationMinutes + lateMinutes}M'
    criteria: {
      allOf: [
        {
          query: 'traces | where ingestion_time() > ago(${evaluationMinutes}m) | where message startswith "ddd.delivery.outcome " | extend outcome = parse_json(substring(message, strlen("ddd.delivery.outcome "))) | where tostring(outcome.phase) in ("failed", "refused", "stale", "unreported", "cancelled", "delivered-website-error", "delivered-source-kept") | summarize failed = count()'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failed'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        operators.id
      ]
    }
  }
}

output alertRuleId string = failedDeliveries.id
