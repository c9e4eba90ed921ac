-- +goose Up
-- Issue 14: a declared tenant may name its company's identity provider (the alias of one the realm has, from
-- the Tenant resource's spec.identityProvider). The organization write-back links it to the tenant's
-- organization and sets the organization's domains to the tenant's email domains, so a change of either
-- requests the organization's job, as a change of the name or the suspension does (00011).
ALTER TABLE tenants ADD COLUMN identity_provider text NOT NULL DEFAULT '';

-- tenant_domains rows carry tenant_id where tenants rows carry id.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION request_keycloak_org_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    row_ record := COALESCE(NEW, OLD);
    tenant text;
    member text := '';
BEGIN
    CASE TG_TABLE_NAME
        WHEN 'memberships' THEN tenant := row_.tenant_id; member := row_.user_id;
        WHEN 'tenant_domains' THEN tenant := row_.tenant_id;
        ELSE tenant := row_.id;
    END CASE;
    INSERT INTO keycloak_org_sync (tenant_id, user_id) VALUES (tenant, member)
    ON CONFLICT (tenant_id, user_id) DO UPDATE SET requested_at = clock_timestamp(), next_attempt_at = now(), attempts = 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER tenants_keycloak_org_sync_update ON tenants;
CREATE TRIGGER tenants_keycloak_org_sync_update AFTER UPDATE OF display_name, suspended, identity_provider ON tenants
    FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.suspended IS DISTINCT FROM NEW.suspended
        OR OLD.identity_provider IS DISTINCT FROM NEW.identity_provider)
    EXECUTE FUNCTION request_keycloak_org_sync();
CREATE TRIGGER tenant_domains_keycloak_org_sync AFTER INSERT OR DELETE ON tenant_domains
    FOR EACH ROW EXECUTE FUNCTION request_keycloak_org_sync();

-- Organizations that exist get their domains once.
INSERT INTO keycloak_org_sync (tenant_id) SELECT DISTINCT tenant_id FROM tenant_domains
ON CONFLICT (tenant_id, user_id) DO UPDATE SET requested_at = clock_timestamp(), next_attempt_at = now(), attempts = 0;

-- +goose Down
DROP TRIGGER tenant_domains_keycloak_org_sync ON tenant_domains;
DROP TRIGGER tenants_keycloak_org_sync_update ON tenants;
CREATE TRIGGER tenants_keycloak_org_sync_update AFTER UPDATE OF display_name, suspended ON tenants
    FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.suspended IS DISTINCT FROM NEW.suspended)
    EXECUTE FUNCTION request_keycloak_org_sync();
ALTER TABLE tenants DROP COLUMN identity_provider;
