// Package controller reconciles Tenant resources into the user service and Keycloak.
package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/connectedbbq/platform/pkg/adminapi"
	v1 "github.com/connectedbbq/platform/services/tenant-controller/api/v1alpha1"
	"github.com/connectedbbq/platform/services/tenant-controller/internal/userservice"
)

// Finalizer keeps a Tenant until the user service and Keycloak have forgotten it.
const Finalizer = "platform.connectedbbq.dev/cleanup"

// UserService is the part of the user service's admin API the reconciler uses.
type UserService interface {
	PutTenant(ctx context.Context, id string, t adminapi.TenantSpec) error
	DeleteTenant(ctx context.Context, id string) error
}

// Groups manages one top-level Keycloak group per tenant (pkg/keycloak.Client implements it).
type Groups interface {
	EnsureGroup(ctx context.Context, name string, attrs map[string][]string) (string, error)
	DeleteGroup(ctx context.Context, id string) error
}

// TenantReconciler makes the user service and Keycloak hold each Tenant as specified.
type TenantReconciler struct {
	Client      client.Client
	UserService UserService
	Groups      Groups
	// RetryAfter is how long to wait before retrying a conflict that only a spec change can resolve.
	RetryAfter time.Duration
}

// +kubebuilder:rbac:groups=platform.connectedbbq.dev,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.connectedbbq.dev,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.connectedbbq.dev,resources=tenants/finalizers,verbs=update

// Reconcile brings one Tenant to its desired state.
func (r *TenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var t v1.Tenant
	if err := r.Client.Get(ctx, req.NamespacedName, &t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !t.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &t)
	}
	if controllerutil.AddFinalizer(&t, Finalizer) {
		if err := r.Client.Update(ctx, &t); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	base := t.DeepCopy()
	usErr := r.syncUserService(ctx, &t)
	kcErr := r.syncKeycloak(ctx, &t)
	ready := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonReconciled,
		Message: "the user service and Keycloak hold the tenant", ObservedGeneration: t.Generation}
	if usErr != nil || kcErr != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, v1.ReasonNotSynced,
			"see the UserServiceSynced and KeycloakSynced conditions"
	}
	meta.SetStatusCondition(&t.Status.Conditions, ready)
	t.Status.ObservedGeneration = t.Generation
	t.Status.TenantID = t.Name
	if err := r.Client.Status().Patch(ctx, &t, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, fmt.Errorf("update status: %w", err)
	}
	if errors.Is(usErr, userservice.ErrConflict) && kcErr == nil { // a domain taken, or a personal tenant's id
		// Retrying at full speed cannot help; a spec change (which triggers a reconcile) or the other
		// tenant letting go can.
		log.FromContext(ctx).Info("tenant conflicts with another tenant", "error", usErr.Error())
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	}
	return ctrl.Result{}, errors.Join(usErr, kcErr)
}

func (r *TenantReconciler) syncUserService(ctx context.Context, t *v1.Tenant) error {
	err := r.UserService.PutTenant(ctx, t.Name, adminapi.TenantSpec{DisplayName: t.Spec.DisplayName,
		EmailDomains: t.Spec.EmailDomains, Admins: t.Spec.Admins, Suspended: t.Spec.Suspended, IdentityProvider: t.Spec.IdentityProvider})
	c := metav1.Condition{Type: v1.ConditionUserServiceSynced, Status: metav1.ConditionTrue,
		Reason: v1.ReasonReconciled, Message: "the user service holds the tenant", ObservedGeneration: t.Generation}
	switch {
	case errors.Is(err, userservice.ErrPersonalTenant):
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1.ReasonPersonalTenantID,
			"a personal tenant has the id "+t.Name+": a Tenant resource cannot take it; choose another name"
	case errors.Is(err, userservice.ErrConflict):
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1.ReasonDomainConflict, err.Error()
	case err != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1.ReasonUserServiceError, err.Error()
	}
	meta.SetStatusCondition(&t.Status.Conditions, c)
	return err
}

func (r *TenantReconciler) syncKeycloak(ctx context.Context, t *v1.Tenant) error {
	id, err := r.Groups.EnsureGroup(ctx, t.Name, groupAttributes(t))
	c := metav1.Condition{Type: v1.ConditionKeycloakSynced, Status: metav1.ConditionTrue,
		Reason: v1.ReasonReconciled, Message: "Keycloak has the tenant's group", ObservedGeneration: t.Generation}
	if err != nil {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1.ReasonKeycloakError, err.Error()
	} else {
		t.Status.KeycloakGroupID = id
	}
	meta.SetStatusCondition(&t.Status.Conditions, c)
	return err
}

// groupAttributes mirror the spec on the group, so Keycloak admins see what the tenant is.
func groupAttributes(t *v1.Tenant) map[string][]string {
	return map[string][]string{"displayName": {t.Spec.DisplayName}, "suspended": {strconv.FormatBool(t.Spec.Suspended)},
		"tenant": {t.Name}}
}

// finalize removes the tenant from the user service and Keycloak, then lets the resource go. A tenant that
// still has members is kept, and the resource too: its Ready condition says why, and the check is repeated
// every RetryAfter (not in an error loop) until the members are gone. A personal tenant of the same id is
// not the resource's, so it is left alone.
func (r *TenantReconciler) finalize(ctx context.Context, t *v1.Tenant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(t, Finalizer) {
		return ctrl.Result{}, nil
	}
	err := r.UserService.DeleteTenant(ctx, t.Name)
	switch {
	case errors.Is(err, userservice.ErrHasMembers):
		return r.blockDeletion(ctx, t, err)
	case errors.Is(err, userservice.ErrPersonalTenant):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("delete tenant from the user service: %w", err)
	}
	// Resolve the group by name rather than trusting status, which may predate a lost status update.
	// (Ensuring a missing group only to delete it is rare and harmless.)
	id, err := r.Groups.EnsureGroup(ctx, t.Name, nil)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("find Keycloak group: %w", err)
	}
	if err := r.Groups.DeleteGroup(ctx, id); err != nil {
		return ctrl.Result{}, fmt.Errorf("delete Keycloak group: %w", err)
	}
	controllerutil.RemoveFinalizer(t, Finalizer)
	if err := r.Client.Update(ctx, t); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// blockDeletion records why the resource stays (its tenant has members) and checks again later.
func (r *TenantReconciler) blockDeletion(ctx context.Context, t *v1.Tenant, cause error) (ctrl.Result, error) {
	base := t.DeepCopy()
	meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1.ReasonHasMembers, ObservedGeneration: t.Generation,
		Message: "the tenant still has members, so it is not deleted: its admins remove them (or they leave), then the deletion completes"})
	if err := r.Client.Status().Patch(ctx, t, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, fmt.Errorf("update status: %w", err)
	}
	log.FromContext(ctx).Info("tenant deletion waits for its members to go", "error", cause.Error())
	return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
}

// SetupWithManager registers the reconciler; status-only updates do not trigger it.
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.RetryAfter == 0 {
		r.RetryAfter = time.Minute
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.Tenant{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{}))).
		Named("tenant").
		Complete(r)
}
