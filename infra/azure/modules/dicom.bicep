// Azure Health Data Services: a workspace and its DICOM service, both without public network access
// (clients reach the service through the workspace's private endpoint).
param location string
param workspaceName string
param dicomServiceName string
param tags object

resource workspace 'Microsoft.HealthcareApis/workspaces@2024-03-31' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    publicNetworkAccess: 'Disabled'
  }
}

resource dicom 'Microsoft.HealthcareApis/workspaces/dicomservices@2024-03-31' = {
  parent: workspace
  name: dicomServiceName
  location: location
  tags: tags
  properties: {
    publicNetworkAccess: 'Disabled'
  }
}

output workspaceId string = workspace.id
output dicomServiceId string = dicom.id
output serviceUrl string = dicom.properties.serviceUrl
