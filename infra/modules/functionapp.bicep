// The Function App on the Flex Consumption plan (Linux, Python), running as the user-assigned
// identity. On Flex Consumption the runtime, the scale limits and the deployment package live
// in `functionAppConfig`; the plan rejects or ignores the classic settings that did that job
// (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE,
// WEBSITE_CONTENT*, siteConfig.linuxFxVersion/alwaysOn/ftpsState, ...), so none is set here.
//
// Every setting the app reads is in `appSettings` (or `notificationSettings`) below;
// tests/infra/test_settings_crosscheck.py fails when the code reads one that is missing.

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to both resources; the app also gets azd-service-name.')
param tags object = {}

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the Function App (its host name is <name>.azurewebsites.net).')
param appName string

@description('The azure.yaml service this app hosts (azd finds the app by this tag).')
param azdServiceName string = 'api'

@description('Python version of the Functions runtime.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

// Instance size. One instance runs the Functions host and the Python worker, which peaks at
// about 250 MiB (243 MiB measured on the full mixed benchmark, README.md) and hashes every
// byte a segment reads. A 512 MB instance
// has a quarter of a core for that and would hold the worker's peak with under 250 MiB left
// for the host (its own use is not measured here) and for a larger peak, where running out of
// memory ends every activity on the instance. 2,048 MB (one core) is the smallest size offered.
@description('Memory of each instance in MB (2,048: one core; 4,096: two). CPU and network bandwidth scale with it.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances (the plan accepts 1 to 1000). Copies are server-side, so a few instances move a lot of data.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances for the durable group (orchestrators and activities). 1, as Microsoft recommends for Durable Functions on Flex Consumption: an orchestration step after a scale to zero does not wait for a cold start, at a baseline cost. 0 scales to zero. A zone-redundant plan keeps at least 2.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 1

@description('Spread instances over availability zones. Only some regions offer zone-redundant Flex Consumption plans; the task hub state is in storage either way.')
param zoneRedundant bool = false

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Name of the app storage account (host storage, task hub, work container).')
param storageAccountName string

@description('Blob endpoint of the app storage account, ending with a slash.')
param blobEndpoint string

@description('Queue endpoint of the app storage account.')
param queueEndpoint string

@description('Table endpoint of the app storage account.')
param tableEndpoint string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Blob container for the app work files.')
param workContainerName string

@description('Application Insights connection string (not a secret: local auth is disabled on the component).')
param appInsightsConnectionString string

@description('Key Vault URI, ending with a slash.')
param keyVaultUri string

@description('Name of the Key Vault secret holding the website API token.')
param websiteTokenSecretName string

@description('Base URL of the delivery website (D4S2), for example https://ddd.example.edu.')
param websiteUrl string

@minLength(1)
@description('Comma-separated names of the storage accounts a delivery may be copied FROM. main.bicep derives them from the ids that get the source roles.')
param sourceAccounts string

@minLength(1)
@description('Comma-separated names of the storage accounts a delivery may be copied TO. main.bicep derives them from the ids that get the sink roles.')
param sinkAccounts string

@description('Who gets read access (r-x, recursive, default ACL) on each delivered folder: <sink account>[/<container>]=user:<object id>,group:<object id>;... Empty: no grant.')
param deliveredFolderReaders string = ''

@description('Comma-separated account or account/container entries from which a delivery may delete its source folder when it asks; empty: none. main.bicep derives them from the ids that get the move role.')
param moveSources string = ''

@description('Comma-separated account or account/container entries from which every delivery deletes its source folder; empty: none. main.bicep derives them from the ids that get the move role.')
param moveAlways string = ''

@description('The standing rules, a JSON list (shared/core/rules.py); \'[]\': none.')
param standingRules string = '[]'

@description('Communication Services endpoint, or empty when notifications are off.')
param notifyEndpoint string = ''

@description('Sender address for notifications, or empty.')
param notifySender string = ''

@description('Address that receives notifications, or empty (then no notification settings are set).')
param notifyTo string = ''

@description('Also e-mail the operators when a delivery succeeds (failures always are).')
param notifyOnSuccess bool = false

// Tuning. The defaults equal the app's own defaults; they are set explicitly so an operator
// sees (and can change) every knob in one place.
@description('Most files in one work unit (one copy activity call).')
param chunkMaxFiles int = 500

@description('Most bytes in one work unit (4 GiB): a chunk of files, or one segment of a larger file, so every copy activity ends within minutes. A string: the value is past the 32-bit range some ARM tooling assumes for integers.')
param chunkMaxBytes string = '4294967296'

@description('Parallel copies inside one activity.')
param copyThreads int = 16

@description('Work units in flight at once in one delivery (a sliding window). One fewer than host.json maxConcurrentActivityFunctions (9), so the progress measurement never waits behind copy units.')
@minValue(1)
param parallelChunks int = 8

@description('Instances\' worth of copy units that all the deliveries copying at once share: DDD_SHARED_UNITS is parallelChunks times this (at most maximumInstanceCount). A delivery alone keeps its whole window; several split these units evenly, and their queued units make the platform add up to about this many instances. 1: every delivery shares one instance\'s slots.')
@minValue(1)
@maxValue(1000)
param copyingInstances int = 4

@description('Files up to this size are copied in one synchronous call; larger ones block by block.')
param smallFileMaxBytes int = 67108864

@description('While units run, the status shows their bytes at least this often (seconds).')
@minValue(1)
@maxValue(300)
param progressSeconds int = 30

@description('A storage outage is waited out this long (minutes from an activity\'s first failure) before the work fails.')
@minValue(1)
@maxValue(1440)
param outageWaitMinutes int = 30

@description('The app\'s public base URL for status links (a custom domain); empty: its default host name.')
param publicUrl string = ''

@description('Block size for block-by-block copies.')
param blockSizeBytes int = 33554432

@description('Largest callback body POSTed to the website (its nginx accepts 1 MiB).')
param callbackMaxBytes int = 1048576

@description('Seconds between attempts when the website is unreachable.')
param websiteRetrySeconds int = 2

@description('Attempts per website call before the orchestration backs off.')
param websiteAttempts int = 4

@description('A dry run of at most this many files is answered while the caller waits; a larger one runs as an orchestration.')
@minValue(1)
param dryRunInstantFiles int = 5000

@description('Most files and folders a project summary lists while the caller waits.')
@minValue(1)
param summaryMaxEntries int = 250000

@description('Longest a share may last, in hours (its links are signed with one user delegation key: at most 7 days).')
@minValue(1)
@maxValue(167)
param shareMaxHours int = 72

@description('Most files in one share (one line of its download script each).')
@minValue(1)
param shareMaxFiles int = 10000

@description('Most bytes a share reads to hash files that have no stored MD5 (1 GiB).')
@minValue(0)
param shareHashMaxBytes int = 1073741824

// Azure's front end cuts an HTTP answer at 230 s whatever functionTimeout says: the synchronous
// endpoints (a summary, a share, an instant dry run) stop their work by this deadline, plus up
// to 5 s, and answer 422 or go to the background instead (shared/core/deadline.py).
@description('Longest a summary, a share or an instant dry run works while the caller waits, in seconds (45 fits the command line\'s and common proxies\' 60 s wait; at most 180, under the 230 s front end).')
@minValue(1)
@maxValue(180)
param httpDeadlineSeconds int = 45

var notificationsEnabled = !empty(notifyTo)

// A zone-redundant plan keeps at least 2 always-ready instances per group, one in each of two
// zones, and refuses a configuration of 1: 0 and 1 become 2, which the platform would run and
// bill anyway.
var durableAlwaysReady = zoneRedundant ? max(durableAlwaysReadyInstances, 2) : durableAlwaysReadyInstances

// The Python worker runs every sync function, each activity and each orchestrator episode, on
// one thread pool of min(32, cores + 4) threads unless PYTHON_THREADPOOL_THREAD_COUNT sets its
// size: 5 on a one-core 2,048 MB instance. host.json lets an instance run 9 activities
// (maxConcurrentActivityFunctions) and 4 orchestrator episodes (maxConcurrentOrchestratorFunctions)
// at once: 9 + 4 threads give each of those slots one, so no episode waits behind minutes-long
// copy activities. The HTTP functions are async and do not use this pool; an activity's own
// copies run on its own threads (DDD_COPY_THREADS).
var workerThreads = 13

var appSettings = {
  // Threads for the sync functions (see workerThreads).
  PYTHON_THREADPOOL_THREAD_COUNT: string(workerThreads)
  // Functions host and Durable task hub storage, by identity (no connection string, no key).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  // Telemetry, authenticated with the identity (the component has local auth disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The identity DefaultAzureCredential picks in the app code.
  AZURE_CLIENT_ID: identityClientId
  // Where storage accounts live; {account} is filled in per source or sink account.
  DDD_STORAGE_ENDPOINT_TEMPLATE: 'https://{account}.blob.${environment().suffixes.storage}'
  DDD_DFS_ENDPOINT_TEMPLATE: 'https://{account}.dfs.${environment().suffixes.storage}'
  DDD_WORK_ACCOUNT: storageAccountName
  DDD_WORK_CONTAINER: workContainerName
  // The only accounts a delivery may read from and write to (the work account never is): the
  // accounts main.bicep grants source and sink roles on, from the same parameters.
  DDD_SOURCE_ACCOUNTS: sourceAccounts
  DDD_SINK_ACCOUNTS: sinkAccounts
  // Read access granted on delivered folders (ADLS Gen2 sinks only); empty: none.
  DDD_DELIVERED_FOLDER_READERS: deliveredFolderReaders
  // Where a delivery may delete its source once delivered: when it asks, or always; the places
  // main.bicep grants the move role on. Empty: nowhere.
  DDD_MOVE_SOURCES: moveSources
  DDD_MOVE_ALWAYS: moveAlways
  // Deliveries that start when a run's completion flag lands (the Event Grid trigger
  // run_completed); main.bicep checks each rule as the app does.
  DDD_STANDING_RULES: standingRules
  // The delivery website; the app reads its token from the vault itself (cached for minutes,
  // read again when the website refuses it), so a rotated secret needs no restart.
  DDD_WEBSITE_URL: websiteUrl
  DDD_KEY_VAULT_URL: keyVaultUri
  DDD_WEBSITE_TOKEN_SECRET: websiteTokenSecretName
  // Status links the app hands out; empty: https://<its default host name>.
  DDD_PUBLIC_URL: publicUrl
  // Tuning.
  DDD_CHUNK_MAX_FILES: string(chunkMaxFiles)
  DDD_CHUNK_MAX_BYTES: chunkMaxBytes
  DDD_COPY_THREADS: string(copyThreads)
  DDD_PARALLEL_CHUNKS: string(parallelChunks)
  DDD_SHARED_UNITS: string(parallelChunks * min(copyingInstances, maximumInstanceCount))
  DDD_PROGRESS_SECONDS: string(progressSeconds)
  DDD_OUTAGE_WAIT_MINUTES: string(outageWaitMinutes)
  DDD_SMALL_FILE_MAX_BYTES: string(smallFileMaxBytes)
  DDD_BLOCK_SIZE_BYTES: string(blockSizeBytes)
  DDD_CALLBACK_MAX_BYTES: string(callbackMaxBytes)
  DDD_WEBSITE_RETRY_SECONDS: string(websiteRetrySeconds)
  DDD_WEBSITE_ATTEMPTS: string(websiteAttempts)
  // Dry runs, project summaries and pull-mode shares.
  DDD_DRY_RUN_INSTANT_FILES: string(dryRunInstantFiles)
  DDD_SUMMARY_MAX_ENTRIES: string(summaryMaxEntries)
  DDD_SHARE_MAX_HOURS: string(shareMaxHours)
  DDD_SHARE_MAX_FILES: string(shareMaxFiles)
  DDD_SHARE_HASH_MAX_BYTES: string(shareHashMaxBytes)
  // The synchronous endpoints' deadline (see httpDeadlineSeconds).
  DDD_HTTP_DEADLINE_SECONDS: string(httpDeadlineSeconds)
}

// Set only when notifications are enabled (main.bicep deploys notifications.bicep then).
var notificationSettings = notificationsEnabled ? {
  DDD_NOTIFY_EMAIL_ENDPOINT: notifyEndpoint
  DDD_NOTIFY_SENDER: notifySender
  DDD_NOTIFY_TO: notifyTo
  DDD_NOTIFY_ON_SUCCESS: string(notifyOnSuccess)
} : {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // checkov:skip=CKV_AZURE_225:Zone redundancy is the zoneRedundant parameter (default off): not every Flex Consumption region offers it.
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_222:Public endpoint on purpose: the delivery website (outside Azure) POSTs to it; every call needs the function key.
    // checkov:skip=CKV_AZURE_17:No client certificates: the website's contract is a plain HTTPS POST with the function key in the URL, no other credential.
    // checkov:skip=CKV_AZURE_18:HTTP/2 is left unset: the one caller (the website's requests client) speaks HTTP/1.1, and siteConfig.http20Enabled is not a property we could verify as accepted on Flex Consumption sites.
    // checkov:skip=CKV_AZURE_67:Same as CKV_AZURE_18 (HTTP version check for function apps).
    // checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP publishing (code arrives through the deployment container), and siteConfig.ftpsState is rejected on Flex Consumption sites.
    // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero by design; keep instances warm with durableAlwaysReadyInstances instead.
    // checkov:skip=CKV_AZURE_213:No health-check path: Flex Consumption instances are started and stopped by the platform per execution demand, there is no fixed pool to take an instance out of.
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: durableAlwaysReady > 0 ? [
          {
            name: 'durable'
            instanceCount: durableAlwaysReady
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // Checkov reads this app-settings resource as if it were an App Service web config:
  // checkov:skip=CKV_AZURE_13:No App Service Authentication: the website cannot obtain Entra tokens; it authenticates with the function key (auth level FUNCTION).
  // checkov:skip=CKV_AZURE_222:Public endpoint on purpose, see the site resource.
  // checkov:skip=CKV_AZURE_63:Web server HTTP logs are an App Service (IIS/Kudu) feature; function requests and traces go to Application Insights.
  // checkov:skip=CKV_AZURE_65:Detailed error pages are an App Service web server feature, not used by a Functions host.
  // checkov:skip=CKV_AZURE_66:Failed request tracing is an App Service web server feature; failures are traced in Application Insights.
  // checkov:skip=CKV_AZURE_80:Not a .NET app (Python 3.11); there is no .NET Framework version to set.
  // checkov:skip=CKV_AZURE_88:Flex Consumption has no Azure Files content share; code comes from the deployment container.
  parent: site
  name: 'appsettings'
  properties: union(appSettings, notificationSettings)
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
