-- +goose Up
-- Issue 14: a person belongs to several tenants, each with a role. users.tenant_id/role stay as the person's
-- default tenant (the one written to Keycloak's `tenant` attribute, so the one tokens carry) and its role;
-- memberships is the truth about who belongs where.

-- Roles are data: a third role is a row, not a migration.
CREATE TABLE roles (name text PRIMARY KEY);
INSERT INTO roles (name) VALUES ('admin'), ('member');
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_fkey FOREIGN KEY (role) REFERENCES roles (name);

CREATE TABLE memberships (
    tenant_id text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id   text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      text        NOT NULL REFERENCES roles (name),
    source    text        NOT NULL DEFAULT '', -- how it began: personal, domain, declared, invitation, admin
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);
CREATE INDEX memberships_by_tenant ON memberships (tenant_id, joined_at, user_id);
INSERT INTO memberships (tenant_id, user_id, role, source, joined_at)
SELECT u.tenant_id, u.id, u.role, CASE t.kind WHEN 'personal' THEN 'personal' ELSE '' END, COALESCE(u.activated_at, u.created_at)
FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.status = 'active';

-- The caller's active tenant, only if the caller belongs to it: the API sets app.tenant_id from the request,
-- and the database checks it once more. SECURITY DEFINER so that it reads memberships past their policy.
-- +goose StatementBegin
CREATE FUNCTION app_active_tenant() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT tenant_id FROM memberships
    WHERE tenant_id = current_setting('app.tenant_id', true) AND user_id = current_setting('app.user_id', true)
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION app_active_tenant() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_active_tenant() TO bbq_api;

GRANT SELECT ON memberships, roles TO bbq_api;
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
-- A caller sees the memberships of their active tenant, and their own (the list of their tenants).
CREATE POLICY memberships_of_caller ON memberships TO bbq_api
    USING (tenant_id = app_active_tenant() OR user_id = current_setting('app.user_id', true));

-- A caller sees their own row and the members of their active tenant.
DROP POLICY users_of_caller ON users;
CREATE POLICY users_of_caller ON users TO bbq_api
    USING (id = current_setting('app.user_id', true)
        OR (status = 'active' AND id IN (SELECT user_id FROM memberships WHERE tenant_id = app_active_tenant())));
-- A caller sees the tenants they belong to.
DROP POLICY tenants_of_caller ON tenants;
CREATE POLICY tenants_of_caller ON tenants TO bbq_api
    USING (id IN (SELECT tenant_id FROM memberships WHERE user_id = current_setting('app.user_id', true)));

-- +goose Down
DROP POLICY tenants_of_caller ON tenants;
CREATE POLICY tenants_of_caller ON tenants TO bbq_api
    USING (id = current_setting('app.tenant_id', true)
        OR id = (SELECT tenant_id FROM users WHERE id = current_setting('app.user_id', true)));
DROP POLICY users_of_caller ON users;
CREATE POLICY users_of_caller ON users TO bbq_api
    USING (id = current_setting('app.user_id', true)
        OR (status = 'active' AND tenant_id = current_setting('app.tenant_id', true)));
DROP TABLE memberships;
DROP FUNCTION app_active_tenant();
ALTER TABLE users DROP CONSTRAINT users_role_fkey;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'member'));
DROP TABLE roles;
