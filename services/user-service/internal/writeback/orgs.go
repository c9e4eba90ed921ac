package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Organizations is the part of the Keycloak admin API the organization writer uses.
type Organizations interface {
	OrganizationByAlias(ctx context.Context, alias string) (keycloak.Organization, error)
	CreateOrganization(ctx context.Context, o keycloak.Organization) (string, error)
	UpdateOrganization(ctx context.Context, o keycloak.Organization) error
	DeleteOrganization(ctx context.Context, id string) error
	AddOrganizationMember(ctx context.Context, orgID, userID string) (bool, error)
	RemoveOrganizationMember(ctx context.Context, orgID, userID string) (bool, error)
	OrganizationMember(ctx context.Context, orgID, userID string) (keycloak.OrganizationMember, error)
	HasManagedMembers(ctx context.Context, orgID string) (bool, error)
	LogoutUser(ctx context.Context, userID string) error
	OrganizationIdentityProviders(ctx context.Context, orgID string) ([]string, error)
	LinkOrganizationIdentityProvider(ctx context.Context, orgID, idpAlias string) error
	UnlinkOrganizationIdentityProvider(ctx context.Context, orgID, idpAlias string) (bool, error)
}

// OrgWriter mirrors tenants as Keycloak organizations (alias = the tenant id, disabled while suspended) and
// memberships as organization members. The user service stays the system of record: a job reads the state
// here when claimed and makes Keycloak match it, so doing a job again changes nothing, and the jobs are rows
// claimed for a lease, as the user write-back's are (see Writer).
type OrgWriter struct {
	rounds
	store *store.Store
	orgs  Organizations
	log   *slog.Logger
	cfg   Config
	m     metrics
}

// errNoOrganization: a membership job found no organization for a tenant that exists; the organization's
// own job (claimed first) creates it, so the membership is retried.
var errNoOrganization = errors.New("the tenant's organization does not exist yet")

// errManagedMember: the job would remove a managed organization member (made by Keycloak's first broker
// login through the organization's identity provider), or delete an organization that has one, and Keycloak
// would delete their account with it. The job is kept as failed: the identity provider's first login flow
// must be "bbq first broker login" (docs/tenancy.md).
var errManagedMember = errors.New("a managed organization member: Keycloak would delete the account")

// errDomainTaken: a domain of the tenant is still another organization's (Keycloak's 400 "Domain ... is
// already linked to organization ..."): the other tenant let it go, and its own job releases it. Retried,
// not refused.
var errDomainTaken = errors.New("a domain of the tenant is still another organization's in Keycloak")

// retryDomainTaken makes Keycloak's refusal of a domain that another organization has errDomainTaken
// (Keycloak tells it by its message only).
func retryDomainTaken(err error) error {
	var apiErr *keycloak.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && strings.Contains(apiErr.Body, "is already linked to organization") {
		return fmt.Errorf("%w: %s", errDomainTaken, err.Error())
	}
	return err
}

// NewOrgWriter returns an OrgWriter.
func NewOrgWriter(cfg Config, s *store.Store, orgs Organizations, log *slog.Logger, reg prometheus.Registerer) *OrgWriter {
	m := newMetrics(reg, metricNames{
		written: "bbq_users_keycloak_org_writes_total", writtenHelp: "Organization write-backs to Keycloak, by outcome (written, unchanged, retry, failed).",
		failures: "bbq_users_org_sync_failures_total", failuresHelp: "Organization write-back jobs Keycloak refused for good, by reason (http_<status>).",
		jobs: "bbq_users_org_sync_jobs", jobsHelp: "Organization write-back jobs in the database, by state (pending, failed)."})
	w := &OrgWriter{store: s, orgs: orgs, log: log, cfg: cfg, m: m}
	w.rounds = newRounds(cfg.Interval, w.Round)
	return w
}

// Round claims the due jobs and does them (organizations first). It returns how many it claimed.
func (w *OrgWriter) Round(ctx context.Context) int {
	n, err := claimRound(ctx, w.cfg.Lease, func(ctx context.Context) ([]store.OrgSync, error) {
		return w.store.ClaimOrgSyncs(ctx, w.cfg.Batch, w.cfg.Lease)
	}, w.do, w.release)
	if err != nil {
		w.log.Warn("organization write-back: cannot claim jobs", "error", err)
		return 0
	}
	if ctx.Err() == nil {
		w.count(ctx)
	}
	return n
}

func (w *OrgWriter) do(ctx, jobCtx context.Context, j store.OrgSync) {
	ctx = context.WithoutCancel(ctx)
	outcome, err := w.sync(jobCtx, j)
	v, status := classify(err)
	reason := fmt.Sprintf("http_%d", status)
	if errors.Is(err, errManagedMember) {
		v, reason = refused, "managed_member"
	}
	switch v {
	case done, gone: // gone: the user (or organization) went meanwhile; nothing is left to do
		err = w.store.OrgSynced(ctx, j)
	case refused:
		outcome = "failed"
		w.m.failures.WithLabelValues(reason).Inc()
		w.log.Error("keycloak refused an organization write-back; job kept as failed, not retried",
			"tenant_id", j.TenantID, "user_id", j.UserID, "reason", reason, "error", err)
		err = w.store.OrgSyncRefused(ctx, j, status, err)
	case retry:
		outcome = "retry"
		next := backoff(j.Attempts)
		w.log.Warn("organization write-back failed; will retry", "tenant_id", j.TenantID, "user_id", j.UserID,
			"attempt", j.Attempts+1, "retry_in", next, "error", err)
		err = w.store.OrgSyncFailed(ctx, j, next, status, err)
	}
	w.m.written.WithLabelValues(outcome).Inc()
	if err != nil {
		w.log.Warn("organization write-back: cannot record the outcome; the job runs again after its lease",
			"tenant_id", j.TenantID, "user_id", j.UserID, "error", err)
	}
}

// sync makes Keycloak match the job's state; what matches already is left alone (no admin event).
func (w *OrgWriter) sync(ctx context.Context, j store.OrgSync) (string, error) {
	org, err := w.orgs.OrganizationByAlias(ctx, j.TenantID)
	found := err == nil
	if err != nil && !errors.Is(err, keycloak.ErrNotFound) {
		return "", err
	}
	if !j.Organization() {
		return w.syncMember(ctx, j, org, found)
	}
	switch {
	case !j.TenantExists && !found:
		return "unchanged", nil
	case !j.TenantExists:
		managed, err := w.orgs.HasManagedMembers(ctx, org.ID)
		switch {
		case err != nil:
			return "", err
		case managed:
			return "", errManagedMember
		}
		return "written", w.orgs.DeleteOrganization(ctx, org.ID)
	case !found:
		id, err := w.create(ctx, j)
		if err == nil && j.IdentityProvider != "" { // a new organization has no links: nothing to list or unlink
			err = w.link(ctx, j, id)
		}
		return "written", err
	}
	outcome, err := w.update(ctx, j, org)
	if err != nil {
		return "", err
	}
	if linked, err := w.syncIdentityProvider(ctx, j, org.ID); err != nil {
		return "", err
	} else if linked {
		outcome = "written"
	}
	if j.Suspended {
		err = w.endStrandedSessions(ctx, j.TenantID)
	}
	return outcome, err
}

// syncIdentityProvider links the tenant's identity provider to its organization and unlinks any other. It
// reports whether it wrote. Keycloak answers 400 for an alias it does not know: refused, the job is kept as
// failed until the tenant changes.
func (w *OrgWriter) syncIdentityProvider(ctx context.Context, j store.OrgSync, orgID string) (bool, error) {
	linked, err := w.orgs.OrganizationIdentityProviders(ctx, orgID)
	if err != nil {
		return false, fmt.Errorf("identity providers of %s: %w", j.TenantID, err)
	}
	unlink, link := identityProviderChanges(linked, j.IdentityProvider)
	for _, alias := range unlink {
		if _, err := w.orgs.UnlinkOrganizationIdentityProvider(ctx, orgID, alias); err != nil {
			return false, fmt.Errorf("unlink identity provider %s from %s: %w", alias, j.TenantID, err)
		}
	}
	if link {
		if err := w.link(ctx, j, orgID); err != nil {
			return false, err
		}
	}
	return link || len(unlink) > 0, nil
}

// link links the tenant's identity provider to its organization.
func (w *OrgWriter) link(ctx context.Context, j store.OrgSync, orgID string) error {
	if err := w.orgs.LinkOrganizationIdentityProvider(ctx, orgID, j.IdentityProvider); err != nil {
		return fmt.Errorf("link identity provider %s to %s: %w", j.IdentityProvider, j.TenantID, err)
	}
	return nil
}

// identityProviderChanges is the rule of the links: the identity providers linked and not wanted go, and
// the wanted one ("" for none) is linked unless it is already.
func identityProviderChanges(linked []string, want string) (unlink []string, link bool) {
	link = want != ""
	for _, alias := range linked {
		if alias == want {
			link = false
			continue
		}
		unlink = append(unlink, alias)
	}
	return unlink, link
}

// sameDomains reports whether the organization's domains are the tenant's (both compared in lower case, in
// any order).
func sameDomains(have []keycloak.OrganizationDomain, want []string) bool {
	if len(have) != len(want) {
		return false
	}
	names := make([]string, 0, len(have))
	for _, d := range have {
		names = append(names, strings.ToLower(d.Name))
	}
	slices.Sort(names)
	wanted := slices.Clone(want)
	slices.Sort(wanted)
	return slices.Equal(names, wanted)
}

// endStrandedSessions signs out the members a suspension leaves without a tenant: sign-in is refused to them,
// and their sessions end too, so a dashboard open at the time loses its session at its next token refresh
// instead of living on until it expires. (The API refuses their calls at once: 403 tenant-suspended.) It
// runs whenever a suspended tenant's job does; a person with nothing to sign in to has no session to lose.
func (w *OrgWriter) endStrandedSessions(ctx context.Context, tenantID string) error {
	ids, err := w.store.Stranded(ctx, tenantID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := w.orgs.LogoutUser(ctx, id); err != nil && !errors.Is(err, keycloak.ErrNotFound) {
			return fmt.Errorf("end the sessions of %s: %w", id, err)
		}
	}
	if len(ids) > 0 {
		w.log.Info("suspension: ended the sessions of members left without a tenant", "tenant_id", tenantID, "users", len(ids))
	}
	return nil
}

// update brings an existing organization to the tenant's name and state.
func (w *OrgWriter) update(ctx context.Context, j store.OrgSync, org keycloak.Organization) (string, error) {
	want := organization(j, false)
	if org.Enabled == want.Enabled && org.Description == want.Description && sameDomains(org.Domains, j.Domains) &&
		(org.Name == want.Name || org.Name == organization(j, true).Name) {
		return "unchanged", nil
	}
	want.ID = org.ID
	err := w.orgs.UpdateOrganization(ctx, want)
	if errors.Is(err, keycloak.ErrConflict) { // the name is another organization's
		want.Name = organization(j, true).Name
		err = w.orgs.UpdateOrganization(ctx, want)
	}
	return "written", retryDomainTaken(err)
}

// create creates the tenant's organization and returns its id.
func (w *OrgWriter) create(ctx context.Context, j store.OrgSync) (string, error) {
	id, err := w.orgs.CreateOrganization(ctx, organization(j, false))
	if errors.Is(err, keycloak.ErrConflict) { // the name is another organization's (or a lost reply: then retried)
		id, err = w.orgs.CreateOrganization(ctx, organization(j, true))
	}
	return id, retryDomainTaken(err)
}

func (w *OrgWriter) syncMember(ctx context.Context, j store.OrgSync, org keycloak.Organization, found bool) (string, error) {
	switch {
	case !found && j.Member && j.TenantExists:
		return "", errNoOrganization
	case !found:
		return "unchanged", nil // the organization is gone, and its memberships with it
	}
	if !j.Member {
		return w.removeMember(ctx, j, org.ID)
	}
	added, err := w.orgs.AddOrganizationMember(ctx, org.ID, j.UserID)
	if !added {
		return "unchanged", err
	}
	return "written", err
}

// removeMember ends a membership, unless the member is managed (errManagedMember: removing them would
// delete their account).
func (w *OrgWriter) removeMember(ctx context.Context, j store.OrgSync, orgID string) (string, error) {
	m, err := w.orgs.OrganizationMember(ctx, orgID, j.UserID)
	switch {
	case errors.Is(err, keycloak.ErrNotFound):
		return "unchanged", nil
	case err != nil:
		return "", err
	case m.Managed():
		return "", errManagedMember
	}
	removed, err := w.orgs.RemoveOrganizationMember(ctx, orgID, j.UserID)
	if !removed {
		return "unchanged", err
	}
	return "written", err
}

// organization is the Keycloak organization of a tenant. Organization names are unique in a realm and
// display names are not, so a taken name is made unique with the tenant id; the description keeps the
// display name as it is (the sign-in refusal shows it).
func organization(j store.OrgSync, unique bool) keycloak.Organization {
	name := j.TenantName
	if unique || name == "" {
		name = fmt.Sprintf("%s (%s)", j.TenantName, j.TenantID)
	}
	domains := make([]keycloak.OrganizationDomain, 0, len(j.Domains))
	for _, d := range j.Domains {
		domains = append(domains, keycloak.OrganizationDomain{Name: d})
	}
	return keycloak.Organization{Name: name, Alias: j.TenantID, Enabled: !j.Suspended, Description: j.TenantName, Domains: domains}
}

func (w *OrgWriter) release(ctx context.Context, jobs []store.OrgSync) {
	ctx = context.WithoutCancel(ctx)
	for _, j := range jobs {
		if err := w.store.ReleaseOrgSync(ctx, j); err != nil {
			w.log.Warn("organization write-back: cannot release a job", "tenant_id", j.TenantID, "user_id", j.UserID, "error", err)
		}
	}
}

func (w *OrgWriter) count(ctx context.Context) {
	pending, failed, err := w.store.OrgSyncCounts(ctx)
	if err != nil {
		w.log.Warn("organization write-back: cannot count jobs", "error", err)
		return
	}
	w.m.jobs.WithLabelValues("pending").Set(float64(pending))
	w.m.jobs.WithLabelValues("failed").Set(float64(failed))
}
