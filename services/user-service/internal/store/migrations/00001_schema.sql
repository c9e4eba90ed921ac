-- +goose Up
-- Tenants: personal ones created on activation, and declared ones (Kubernetes Tenant resources).
CREATE TABLE tenants (
    id           text PRIMARY KEY,
    display_name text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('personal', 'declared')),
    admins       text[]      NOT NULL DEFAULT '{}', -- emails that join as admins
    suspended    boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- New users whose email is in a domain join that domain's tenant.
CREATE TABLE tenant_domains (
    domain    text PRIMARY KEY CHECK (domain = lower(domain)),
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
);

-- Users, keyed by their Keycloak id. A row exists from the first event about the user; it becomes
-- active once both the registration and the email confirmation have been seen, in either order.
CREATE TABLE users (
    id             text PRIMARY KEY,
    realm          text        NOT NULL DEFAULT '',
    email          text        NOT NULL DEFAULT '',
    user_name      text        NOT NULL DEFAULT '',
    name           text        NOT NULL DEFAULT '',
    email_verified boolean     NOT NULL DEFAULT false,
    registered     boolean     NOT NULL DEFAULT false,
    method         text        NOT NULL DEFAULT '',
    status         text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'deleted')),
    tenant_id      text REFERENCES tenants (id),
    role           text CHECK (role IN ('admin', 'member')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    activated_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'active') = (tenant_id IS NOT NULL AND role IS NOT NULL))
);
CREATE INDEX users_by_tenant ON users (tenant_id, activated_at, id) WHERE status = 'active';

-- The inbox: ids of the bus events already applied, so a redelivery or republish changes nothing.
CREATE TABLE processed_events (
    id           text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: events written in the same transaction as the change they announce, published by
-- the relay with Nats-Msg-Id = id.
CREATE TABLE outbox (
    seq        bigserial PRIMARY KEY,
    id         uuid        NOT NULL UNIQUE,
    subject    text        NOT NULL,
    event      bytea       NOT NULL, -- the CloudEvent, structured mode
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Users whose Keycloak account must be brought in line with this database (tenant, name).
CREATE TABLE keycloak_sync (
    user_id         text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(), -- a newer request outlives an older attempt
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE keycloak_sync, outbox, processed_events, users, tenant_domains, tenants;
