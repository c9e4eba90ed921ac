package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// KeycloakSync is a claimed write-back job: a user whose Keycloak account must get the default tenant, the
// role in it and the name stored here.
type KeycloakSync struct {
	UserID, Realm, TenantID, Role, Name string
	Attempts                            int
	RequestedAt                         time.Time
	// Claim is the job's claimed_until: it identifies this claim, so a replica whose lease ran out and was
	// taken over cannot finish (delete, reschedule) the job another replica now holds.
	Claim time.Time
}

// ClaimKeycloakSyncs claims up to limit due jobs for lease. Rows are locked with SKIP LOCKED while being
// claimed and then carry claimed_until, so two replicas never hold the same job; a job whose lease ran out
// (its replica died) is due again. Jobs Keycloak refused for good are not due until requested again.
func (s *Store) ClaimKeycloakSyncs(ctx context.Context, limit int, lease time.Duration) ([]KeycloakSync, error) {
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT k.user_id FROM keycloak_sync k JOIN users u ON u.id = k.user_id
			WHERE k.next_attempt_at <= now() AND u.status = 'active'
				AND (k.claimed_until IS NULL OR k.claimed_until < now())
				AND k.failed_request IS DISTINCT FROM k.requested_at
			ORDER BY k.next_attempt_at LIMIT $1
			FOR UPDATE OF k SKIP LOCKED)
		UPDATE keycloak_sync k SET claimed_until = now() + $2::interval
		FROM due, users u WHERE k.user_id = due.user_id AND u.id = k.user_id
		RETURNING k.user_id, u.realm, COALESCE(u.tenant_id, ''), COALESCE(u.role, ''), CASE WHEN k.write_name THEN u.name ELSE '' END, k.attempts, k.requested_at, k.claimed_until`,
		limit, lease.String())
	if err != nil {
		return nil, fmt.Errorf("claim keycloak syncs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[KeycloakSync])
	if err != nil {
		return nil, fmt.Errorf("claim keycloak syncs: %w", err)
	}
	return jobs, nil
}

// KeycloakSynced removes a finished job, unless it was requested again meanwhile: then it only gives up
// the claim, and the new request runs.
func (s *Store) KeycloakSynced(ctx context.Context, k KeycloakSync) error {
	_, err := s.pool.Exec(ctx, `WITH done AS (
			DELETE FROM keycloak_sync WHERE user_id = $1 AND claimed_until = $2 AND requested_at = $3 RETURNING 1)
		UPDATE keycloak_sync SET claimed_until = NULL
		WHERE user_id = $1 AND claimed_until = $2 AND NOT EXISTS (SELECT FROM done)`, k.UserID, k.Claim, k.RequestedAt)
	if err != nil {
		return fmt.Errorf("keycloak sync of %s done: %w", k.UserID, err)
	}
	return nil
}

// KeycloakSyncFailed gives up the claim and schedules the next attempt in next (a request made meanwhile
// keeps its own schedule). status is Keycloak's HTTP status, 0 when there was no answer.
func (s *Store) KeycloakSyncFailed(ctx context.Context, k KeycloakSync, next time.Duration, status int, cause error) error {
	_, err := s.pool.Exec(ctx, `UPDATE keycloak_sync SET claimed_until = NULL, last_error = $4, last_status = $5,
			attempts = attempts + CASE WHEN requested_at = $3 THEN 1 ELSE 0 END,
			next_attempt_at = CASE WHEN requested_at = $3 THEN now() + $6::interval ELSE next_attempt_at END
		WHERE user_id = $1 AND claimed_until = $2`, k.UserID, k.Claim, k.RequestedAt, cause.Error(), status, next.String())
	if err != nil {
		return fmt.Errorf("keycloak sync of %s failed: %w", k.UserID, err)
	}
	return nil
}

// KeycloakSyncRefused marks the job failed for good: Keycloak refused it (a 4xx), so retrying the same
// request cannot succeed. The row stays, with the status and error, until the user is written again (a new
// request) or deleted.
func (s *Store) KeycloakSyncRefused(ctx context.Context, k KeycloakSync, status int, cause error) error {
	_, err := s.pool.Exec(ctx, `UPDATE keycloak_sync SET claimed_until = NULL, last_error = $4, last_status = $5,
			failed_request = CASE WHEN requested_at = $3 THEN requested_at ELSE failed_request END
		WHERE user_id = $1 AND claimed_until = $2`, k.UserID, k.Claim, k.RequestedAt, cause.Error(), status)
	if err != nil {
		return fmt.Errorf("keycloak sync of %s refused: %w", k.UserID, err)
	}
	return nil
}

// ReleaseKeycloakSync gives up a claim without an outcome (a round ended before the job), so the job
// is due again at once rather than when its lease ends.
func (s *Store) ReleaseKeycloakSync(ctx context.Context, k KeycloakSync) error {
	_, err := s.pool.Exec(ctx, `UPDATE keycloak_sync SET claimed_until = NULL WHERE user_id = $1 AND claimed_until = $2`, k.UserID, k.Claim)
	if err != nil {
		return fmt.Errorf("release keycloak sync of %s: %w", k.UserID, err)
	}
	return nil
}

// KeycloakSyncState is a job as an operator sees it.
type KeycloakSyncState struct {
	UserID     string
	Attempts   int
	Failed     bool // refused for good (see KeycloakSyncRefused)
	LastStatus int
	LastError  string
}

// KeycloakSyncStates lists the write-back jobs that exist, failed ones included.
func (s *Store) KeycloakSyncStates(ctx context.Context) ([]KeycloakSyncState, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id, attempts, failed_request IS NOT DISTINCT FROM requested_at, last_status, last_error
		FROM keycloak_sync ORDER BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("keycloak sync states: %w", err)
	}
	states, err := pgx.CollectRows(rows, pgx.RowToStructByPos[KeycloakSyncState])
	if err != nil {
		return nil, fmt.Errorf("keycloak sync states: %w", err)
	}
	return states, nil
}

// KeycloakSyncCounts counts the jobs waiting (or running) and those refused for good.
func (s *Store) KeycloakSyncCounts(ctx context.Context) (pending, failed int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failed_request IS DISTINCT FROM requested_at),
		count(*) FILTER (WHERE failed_request IS NOT DISTINCT FROM requested_at) FROM keycloak_sync`).Scan(&pending, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("keycloak sync counts: %w", err)
	}
	return pending, failed, nil
}
