package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types and reasons the controller writes into status.conditions.
const (
	// ConditionReady is True once the user service and Keycloak both hold the tenant as specified.
	ConditionReady = "Ready"
	// ConditionUserServiceSynced is True once the user service's admin API accepted the spec.
	ConditionUserServiceSynced = "UserServiceSynced"
	// ConditionKeycloakSynced is True once Keycloak has the tenant's group.
	ConditionKeycloakSynced = "KeycloakSynced"

	ReasonReconciled       = "Reconciled"
	ReasonDomainConflict   = "DomainConflict"
	ReasonUserServiceError = "UserServiceError"
	ReasonKeycloakError    = "KeycloakError"
	ReasonNotSynced        = "NotSynced"
	// ReasonPersonalTenantID: the resource's name is the id of a personal tenant, which it cannot take.
	ReasonPersonalTenantID = "PersonalTenantID"
	// ReasonHasMembers: the resource is being deleted, and its tenant still has members.
	ReasonHasMembers = "HasMembers"
)

// TenantSpec is the desired state of a tenant of the platform.
type TenantSpec struct {
	// DisplayName is the tenant's human-readable name, shown in the dashboard.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	DisplayName string `json:"displayName"`

	// EmailDomains are the email domains whose newly confirmed users join this tenant.
	// A domain can belong to one tenant only; the user service refuses a claimed one.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`
	EmailDomains []string `json:"emailDomains,omitempty"`

	// Admins are the email addresses of the tenant's administrators: members with a verified listed email are
	// made admins, and an admin whose email leaves the list becomes a member (never the tenant's last admin).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=254
	// +kubebuilder:validation:items:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	Admins []string `json:"admins,omitempty"`

	// Suspended blocks the tenant's users while keeping its data.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// IdentityProvider is the alias of an identity provider of the realm (the company's SSO, set up in
	// Keycloak beforehand, its first login flow "bbq first broker login"). It is linked to the tenant's
	// Keycloak organization, whose domains become emailDomains; an alias Keycloak does not know leaves the
	// organization's write-back failed. Empty: none. The pattern is adminapi.IdentityProviderAlias.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)?$`
	IdentityProvider string `json:"identityProvider,omitempty"`
}

// TenantStatus is the observed state of a tenant.
type TenantStatus struct {
	// Conditions: Ready, UserServiceSynced and KeycloakSynced, with a reason saying what is wrong
	// when one is False.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// TenantID is the tenant's id in the user service and in tokens: the resource's name.
	// +optional
	TenantID string `json:"tenantId,omitempty"`

	// KeycloakGroupID is the id of the tenant's Keycloak group.
	// +optional
	KeycloakGroupID string `json:"keycloakGroupId,omitempty"`
}

// Tenant is a tenant of the platform, reconciled into the user service and Keycloak. Cluster scoped:
// its name is the tenant id and the Keycloak group name, which are global to the platform.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tn,categories=connectedbbq
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspended`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Tenant ID",type=string,JSONPath=`.status.tenantId`,priority=1
// +kubebuilder:printcolumn:name="Domains",type=string,JSONPath=`.spec.emailDomains`,priority=1
// +kubebuilder:printcolumn:name="Identity Provider",type=string,JSONPath=`.spec.identityProvider`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')",message="a tenant name is a DNS label: at most 63 lowercase letters, digits and '-'"
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TenantSpec   `json:"spec"`
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}
