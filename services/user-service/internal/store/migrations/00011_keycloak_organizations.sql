-- +goose Up
-- Issue 14: every tenant is mirrored as a Keycloak organization (alias = the tenant id, disabled while the
-- tenant is suspended) with its members. A row asks the organization write-back (internal/orgsync) to bring
-- one thing in line with this database: user_id '' the organization itself (created, renamed, enabled or
-- disabled, deleted), else one person's membership (added or removed). The job reads the current state when
-- it runs, so repeating it changes nothing; claims, retries and refusals work as in keycloak_sync.
CREATE TABLE keycloak_org_sync (
    tenant_id       text        NOT NULL, -- no foreign key: a deleted tenant's organization is deleted by its job
    user_id         text        NOT NULL DEFAULT '',
    requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(), -- a newer request outlives an older attempt
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    failed_request  timestamptz,
    last_status     int         NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX keycloak_org_sync_due ON keycloak_org_sync (next_attempt_at);

-- Requested by triggers, so that every path that changes tenants or memberships (API, admin API, consumer,
-- erasure, cascades) asks for it in its own transaction. SECURITY DEFINER: callers need no grant on the table.
-- +goose StatementBegin
CREATE FUNCTION request_keycloak_org_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    row_ record := COALESCE(NEW, OLD);
    member text := '';
BEGIN
    IF TG_TABLE_NAME = 'memberships' THEN
        member := row_.user_id;
        INSERT INTO keycloak_org_sync (tenant_id, user_id) VALUES (row_.tenant_id, member)
        ON CONFLICT (tenant_id, user_id) DO UPDATE SET requested_at = clock_timestamp(), next_attempt_at = now(), attempts = 0;
    ELSE
        INSERT INTO keycloak_org_sync (tenant_id, user_id) VALUES (row_.id, member)
        ON CONFLICT (tenant_id, user_id) DO UPDATE SET requested_at = clock_timestamp(), next_attempt_at = now(), attempts = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tenants_keycloak_org_sync AFTER INSERT OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION request_keycloak_org_sync();
CREATE TRIGGER tenants_keycloak_org_sync_update AFTER UPDATE OF display_name, suspended ON tenants
    FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.suspended IS DISTINCT FROM NEW.suspended)
    EXECUTE FUNCTION request_keycloak_org_sync();
CREATE TRIGGER memberships_keycloak_org_sync AFTER INSERT OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION request_keycloak_org_sync();

-- What exists already is mirrored once.
INSERT INTO keycloak_org_sync (tenant_id) SELECT id FROM tenants;
INSERT INTO keycloak_org_sync (tenant_id, user_id) SELECT tenant_id, user_id FROM memberships;

-- +goose Down
DROP TRIGGER memberships_keycloak_org_sync ON memberships;
DROP TRIGGER tenants_keycloak_org_sync_update ON tenants;
DROP TRIGGER tenants_keycloak_org_sync ON tenants;
DROP FUNCTION request_keycloak_org_sync();
DROP TABLE keycloak_org_sync;
