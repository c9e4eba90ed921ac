package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrgSync is a claimed organization write-back job (table keycloak_org_sync, requested by triggers on tenants
// and memberships) with the state to bring Keycloak to, read when it was claimed.
type OrgSync struct {
	TenantID string
	UserID   string // "" for the organization itself, else one membership
	Attempts int
	// RequestedAt and Claim identify this request and this claim (as in KeycloakSync).
	RequestedAt, Claim time.Time
	TenantExists       bool     // the tenant exists (else its organization goes)
	TenantName         string   // its display name
	Suspended          bool     // the organization is disabled while the tenant is suspended
	Member             bool     // for a membership job: the person is a member now (else they are removed)
	IdentityProvider   string   // the alias of the identity provider linked to the organization ("" for none)
	Domains            []string // the tenant's email domains, sorted: the organization's domains
}

// Organization reports whether the job is about the organization itself rather than a membership.
func (j OrgSync) Organization() bool { return j.UserID == "" }

// ClaimOrgSyncs claims up to limit due jobs for lease, organizations before memberships (a member is added
// to an organization that exists). Claims work as in ClaimKeycloakSyncs.
func (s *Store) ClaimOrgSyncs(ctx context.Context, limit int, lease time.Duration) ([]OrgSync, error) {
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT tenant_id, user_id FROM keycloak_org_sync
			WHERE next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
				AND failed_request IS DISTINCT FROM requested_at
			ORDER BY user_id <> '', next_attempt_at LIMIT $1
			FOR UPDATE SKIP LOCKED)
		UPDATE keycloak_org_sync k SET claimed_until = now() + $2::interval
		FROM due LEFT JOIN tenants t ON t.id = due.tenant_id
			LEFT JOIN memberships m ON m.tenant_id = due.tenant_id AND m.user_id = due.user_id
		WHERE k.tenant_id = due.tenant_id AND k.user_id = due.user_id
		RETURNING k.tenant_id, k.user_id, k.attempts, k.requested_at, k.claimed_until,
			t.id IS NOT NULL, COALESCE(t.display_name, ''), COALESCE(t.suspended, false), m.user_id IS NOT NULL,
			COALESCE(t.identity_provider, ''),
			COALESCE((SELECT array_agg(d.domain ORDER BY d.domain) FROM tenant_domains d WHERE d.tenant_id = k.tenant_id), '{}')`,
		limit, lease.String())
	if err != nil {
		return nil, fmt.Errorf("claim organization syncs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OrgSync])
	if err != nil {
		return nil, fmt.Errorf("claim organization syncs: %w", err)
	}
	slices.SortStableFunc(jobs, func(a, b OrgSync) int {
		switch {
		case a.Organization() == b.Organization():
			return 0
		case a.Organization():
			return -1
		}
		return 1
	})
	return jobs, nil
}

// Stranded returns the members of the tenant who are in no tenant that is not suspended: with it suspended,
// they have nothing to sign in to (the sign-in refusal's rule, docs/tenancy.md).
func (s *Store) Stranded(ctx context.Context, tenantID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.user_id FROM memberships m WHERE m.tenant_id = $1 AND NOT EXISTS (
			SELECT FROM memberships o JOIN tenants t ON t.id = o.tenant_id WHERE o.user_id = m.user_id AND NOT t.suspended)
		ORDER BY m.user_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("members of %s left without a tenant: %w", tenantID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("members of %s left without a tenant: %w", tenantID, err)
	}
	return ids, nil
}

// OrgSynced removes a finished job, unless it was requested again meanwhile: then it only gives up the claim.
func (s *Store) OrgSynced(ctx context.Context, j OrgSync) error {
	_, err := s.pool.Exec(ctx, `WITH done AS (
			DELETE FROM keycloak_org_sync WHERE tenant_id = $1 AND user_id = $2 AND claimed_until = $3 AND requested_at = $4 RETURNING 1)
		UPDATE keycloak_org_sync SET claimed_until = NULL
		WHERE tenant_id = $1 AND user_id = $2 AND claimed_until = $3 AND NOT EXISTS (SELECT FROM done)`,
		j.TenantID, j.UserID, j.Claim, j.RequestedAt)
	if err != nil {
		return fmt.Errorf("organization sync of %s/%s done: %w", j.TenantID, j.UserID, err)
	}
	return nil
}

// OrgSyncFailed gives up the claim and schedules the next attempt in next (a request made meanwhile keeps
// its own schedule).
func (s *Store) OrgSyncFailed(ctx context.Context, j OrgSync, next time.Duration, status int, cause error) error {
	_, err := s.pool.Exec(ctx, `UPDATE keycloak_org_sync SET claimed_until = NULL, last_error = $5, last_status = $6,
			attempts = attempts + CASE WHEN requested_at = $4 THEN 1 ELSE 0 END,
			next_attempt_at = CASE WHEN requested_at = $4 THEN now() + $7::interval ELSE next_attempt_at END
		WHERE tenant_id = $1 AND user_id = $2 AND claimed_until = $3`,
		j.TenantID, j.UserID, j.Claim, j.RequestedAt, cause.Error(), status, next.String())
	if err != nil {
		return fmt.Errorf("organization sync of %s/%s failed: %w", j.TenantID, j.UserID, err)
	}
	return nil
}

// OrgSyncRefused marks the job failed for good (Keycloak refused it with a 4xx); a new request revives it.
func (s *Store) OrgSyncRefused(ctx context.Context, j OrgSync, status int, cause error) error {
	_, err := s.pool.Exec(ctx, `UPDATE keycloak_org_sync SET claimed_until = NULL, last_error = $5, last_status = $6,
			failed_request = CASE WHEN requested_at = $4 THEN requested_at ELSE failed_request END
		WHERE tenant_id = $1 AND user_id = $2 AND claimed_until = $3`,
		j.TenantID, j.UserID, j.Claim, j.RequestedAt, cause.Error(), status)
	if err != nil {
		return fmt.Errorf("organization sync of %s/%s refused: %w", j.TenantID, j.UserID, err)
	}
	return nil
}

// ReleaseOrgSync gives up a claim without an outcome, so the job is due again at once.
func (s *Store) ReleaseOrgSync(ctx context.Context, j OrgSync) error {
	_, err := s.pool.Exec(ctx, `UPDATE keycloak_org_sync SET claimed_until = NULL WHERE tenant_id = $1 AND user_id = $2 AND claimed_until = $3`,
		j.TenantID, j.UserID, j.Claim)
	if err != nil {
		return fmt.Errorf("release organization sync of %s/%s: %w", j.TenantID, j.UserID, err)
	}
	return nil
}

// OrgSyncCounts counts the jobs waiting (or running) and those refused for good.
func (s *Store) OrgSyncCounts(ctx context.Context) (pending, failed int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failed_request IS DISTINCT FROM requested_at),
		count(*) FILTER (WHERE failed_request IS NOT DISTINCT FROM requested_at) FROM keycloak_org_sync`).Scan(&pending, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("organization sync counts: %w", err)
	}
	return pending, failed, nil
}
