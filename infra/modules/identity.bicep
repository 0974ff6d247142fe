// The app's one identity: a user-assigned managed identity. The Function App runs as it for
// host storage (AzureWebJobsStorage__*), the deployment package, Key Vault references,
// Application Insights, and the app's own SDK calls (AZURE_CLIENT_ID, DefaultAzureCredential).
// Every role it holds is granted in roles.bicep.

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

@description('Name of the user-assigned managed identity.')
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
