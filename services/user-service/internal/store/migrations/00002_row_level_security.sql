-- +goose Up
-- The API reads as role bbq_api, with the caller's tenant and user id in transaction settings,
-- so that even a bug in a query cannot return another tenant's rows.
-- +goose StatementBegin
DO $$
BEGIN
    -- Only when missing: CREATE ROLE needs CREATEROLE even for a role that exists, which the owner of an
    -- external or CloudNativePG database may lack (its administrator made the roles; docs/security.md).
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bbq_api') THEN
        CREATE ROLE bbq_api NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- the role is cluster-wide: another database of this cluster created it
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT bbq_api TO %I', current_user);
EXCEPTION WHEN others THEN
    NULL; -- already a member, or a superuser (who may SET ROLE to anyone)
END
$$;
-- +goose StatementEnd

GRANT SELECT, UPDATE (name, updated_at) ON users TO bbq_api;
GRANT SELECT ON tenants TO bbq_api;
GRANT INSERT ON outbox TO bbq_api;
GRANT USAGE ON SEQUENCE outbox_seq_seq TO bbq_api;
GRANT SELECT, INSERT, UPDATE ON keycloak_sync TO bbq_api;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE keycloak_sync ENABLE ROW LEVEL SECURITY;

-- A caller sees their own row, and the active members of their tenant.
CREATE POLICY users_of_caller ON users TO bbq_api
    USING (id = current_setting('app.user_id', true)
        OR (status = 'active' AND tenant_id = current_setting('app.tenant_id', true)));
-- A caller changes only their own row.
CREATE POLICY users_update_self ON users AS RESTRICTIVE FOR UPDATE TO bbq_api
    USING (id = current_setting('app.user_id', true));
CREATE POLICY tenants_of_caller ON tenants TO bbq_api
    USING (id = current_setting('app.tenant_id', true)
        OR id = (SELECT tenant_id FROM users WHERE id = current_setting('app.user_id', true)));
CREATE POLICY keycloak_sync_self ON keycloak_sync TO bbq_api
    USING (user_id = current_setting('app.user_id', true));

-- +goose Down
DROP POLICY keycloak_sync_self ON keycloak_sync;
DROP POLICY tenants_of_caller ON tenants;
DROP POLICY users_update_self ON users;
DROP POLICY users_of_caller ON users;
ALTER TABLE keycloak_sync DISABLE ROW LEVEL SECURITY;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON users, tenants, outbox, keycloak_sync FROM bbq_api;
