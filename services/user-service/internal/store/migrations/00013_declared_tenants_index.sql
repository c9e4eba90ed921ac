-- +goose Up
-- Every batch of IdP events asks whether any declared tenant exists (hasDeclaredTenants), and an activation
-- with declared tenants looks them up (directory.DeclaredTenants). Without an index each of those read the
-- whole tenants table, one personal tenant per user: a cost per batch that grew with the users (at 10,000
-- users, 2,000 batches read 16 million rows in 10 s). Declared tenants are few, so a partial index makes both
-- a lookup in a handful of rows. Built in the migration's transaction: it blocks writes to tenants for the
-- one scan the build takes (about a second per million tenants), which is what a start-up migration may do.
CREATE INDEX tenants_declared ON tenants (id) WHERE kind = 'declared';

-- +goose Down
DROP INDEX tenants_declared;
