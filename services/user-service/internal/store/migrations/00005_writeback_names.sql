-- +goose Up
-- The write-back sends a name to Keycloak only when the person renamed themselves through our API: on
-- activation our copy of the name may already be older than Keycloak's, and writing it would undo the newer one.
ALTER TABLE keycloak_sync ADD COLUMN write_name boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE keycloak_sync DROP COLUMN write_name;
