// The `DICOM Data Owner` role for the app's system-assigned identity, on the DICOM service itself
// (not the workspace or the group): the identity can read and write DICOM data there and nothing
// else. Deployed in the DICOM service's resource group, which may be another one (existing service).
param workspaceName string
param dicomServiceName string
param principalId string

// Built-in role "DICOM Data Owner" (full access to DICOM data): a fixed id, not a name lookup.
var dicomDataOwnerRoleId = '58a3b984-7adf-4c20-983a-32417c86fbc8'

resource workspace 'Microsoft.HealthcareApis/workspaces@2024-03-31' existing = {
  name: workspaceName
}

resource dicom 'Microsoft.HealthcareApis/workspaces/dicomservices@2024-03-31' existing = {
  parent: workspace
  name: dicomServiceName
}

resource dicomDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dicom.id, principalId, dicomDataOwnerRoleId)
  scope: dicom
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dicomDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output serviceUrl string = dicom.properties.serviceUrl
