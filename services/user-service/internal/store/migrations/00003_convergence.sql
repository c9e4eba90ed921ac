-- +goose Up
-- Issue 13: the stored identity follows the newest state Keycloak reported, whatever order events arrive in.
ALTER TABLE users
    ADD COLUMN enabled            boolean NOT NULL DEFAULT true,
    ADD COLUMN identity_providers text[]  NOT NULL DEFAULT '{}',
    -- The watermark: Keycloak's time of the newest state applied to the identity, then its event id.
    ADD COLUMN observed_at        timestamptz,
    ADD COLUMN observed_event_id  text    NOT NULL DEFAULT '',
    -- The verified email the user was placed with (the confirming state's), for audits.
    ADD COLUMN placed_by          text    NOT NULL DEFAULT '',
    -- When the sweep last read this pending user from Keycloak.
    ADD COLUMN swept_at           timestamptz;
UPDATE users SET placed_by = lower(email) WHERE status = 'active';
CREATE INDEX users_pending ON users (created_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX users_pending;
ALTER TABLE users DROP COLUMN swept_at, DROP COLUMN placed_by, DROP COLUMN observed_event_id, DROP COLUMN observed_at,
    DROP COLUMN identity_providers, DROP COLUMN enabled;
