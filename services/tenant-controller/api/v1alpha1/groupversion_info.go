// Package v1alpha1 holds the Tenant API of the platform.connectedbbq.dev group.
// +kubebuilder:object:generate=true
// +groupName=platform.connectedbbq.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of every type in this package.
var GroupVersion = schema.GroupVersion{Group: "platform.connectedbbq.dev", Version: "v1alpha1"}

// AddToScheme registers the types of this package in s. A function rather than the usual
// package-level SchemeBuilder, so nothing is registered behind the caller's back.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Tenant{}, &TenantList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
