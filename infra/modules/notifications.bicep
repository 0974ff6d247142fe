// Optional e-mail notifications: Azure Communication Services with an Email Communication
// Service and an Azure-managed sender domain (DoNotReply@<guid>.azurecomm.net).
// main.bicep deploys this module only when a notification address is given.
//
// The app sends with its managed identity. Instead of the wide built-in
// "Communication and Email Service Owner" role, this module defines a custom role with the
// three operations Azure Communication Services documents for sending e-mail with an Entra
// identity; roles.bicep assigns it on the Communication Services resource only.

@description('Tags applied to every resource.')
param tags object = {}

@description('Name of the Communication Services resource.')
param communicationServiceName string

@description('Name of the Email Communication Service resource.')
param emailServiceName string

@description('Where Communication Services stores its data at rest, for example United States or Europe.')
param dataLocation string = 'United States'

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
  }
}

// A custom role's name must be unique in the whole tenant, and the same environment deployed
// to two subscriptions of a tenant gets the same resource group name: the role's id and its
// name are both a guid over the subscription and the resource group, different in each
// subscription and the same again on a re-deployment (which then updates the role it made).
var emailSenderRoleId = guid(subscription().id, resourceGroup().id, 'ddd-transfer-email-sender')

// A role definition is not a role assignment: the assignment is made in roles.bicep, on the
// Communication Services resource. The definition is assignable in this resource group only.
resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: emailSenderRoleId
  properties: {
    roleName: 'ddd-transfer e-mail sender ${emailSenderRoleId}'
    description: 'Send e-mail through Azure Communication Services, for ddd-transfer in resource group ${resourceGroup().name}. Nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output communicationServiceName string = communicationService.name
output endpoint string = 'https://${communicationService.properties.hostName}'
output senderAddress string = 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
output emailSenderRoleId string = emailSenderRole.name
