-- +goose Up
-- Write-back jobs are claimed for a lease (claimed_until) so two replicas never run the same job; a replica
-- that dies mid-job gives it up when the lease ends. A job Keycloak refused for good (a 4xx) is kept and
-- visible: failed_request is the request that failed (its requested_at), with last_status and last_error.
-- A new request for the user changes requested_at and so makes the row live again.
ALTER TABLE keycloak_sync
    ADD COLUMN claimed_until  timestamptz,
    ADD COLUMN failed_request timestamptz,
    ADD COLUMN last_status    int NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE keycloak_sync DROP COLUMN last_status, DROP COLUMN failed_request, DROP COLUMN claimed_until;
