-- +goose Up
-- Issue 15: the service runs as a member of bbq_service, which reads and writes rows and owns nothing: the
-- schema belongs to the role that migrates. The API reads as a login role that is a member of bbq_api only, so
-- a RESET ROLE from its connection leads back to bbq_api's privileges and no further. user-service migrate
-- makes the login roles (store.Provision); these are the group roles they join.
-- +goose StatementBegin
DO $$
BEGIN
    -- Only when missing: CREATE ROLE needs CREATEROLE even for a role that exists, which the owner of an
    -- external or CloudNativePG database may lack (its administrator made the roles; docs/security.md).
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bbq_service') THEN
        CREATE ROLE bbq_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- the role is cluster-wide: another database of this cluster created it
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA public TO bbq_service, bbq_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO bbq_service;
REVOKE ALL ON goose_db_version FROM bbq_service; -- the migrations' own bookkeeping
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO bbq_service;
-- Later migrations' tables and sequences are the service's too (their row-level security needs a policy, below).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bbq_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO bbq_service;

-- Row-level security confines bbq_api; the service, which is not the tables' owner any more, sees every row.
-- A migration that enables row-level security on a new table adds the same policy (a store test checks).
-- +goose StatementBegin
DO $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity LOOP
        EXECUTE format('CREATE POLICY service_all ON %s TO bbq_service USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT polrelid::regclass FROM pg_policy WHERE polname = 'service_all' LOOP
        EXECUTE format('DROP POLICY service_all ON %s', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM bbq_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM bbq_service;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bbq_service;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM bbq_service;
REVOKE USAGE ON SCHEMA public FROM bbq_service;
