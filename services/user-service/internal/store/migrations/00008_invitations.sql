-- +goose Up
-- Issue 14: a tenant admin invites an email address with a role. Only the SHA-256 of the link's token is kept
-- here; the token itself lives in invitation_mails until its mail has been sent, then it is gone.
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    tenant_id    text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        text        NOT NULL CHECK (email = lower(email) AND email <> ''),
    role         text        NOT NULL REFERENCES roles (name),
    -- pending past expires_at is shown as expired until the sweep stores it (and announces InvitationExpired).
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    token_hash   bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    invited_by   text        NOT NULL, -- a user id; kept when the user goes (the audit trail outlives them)
    accepted_by  text,
    accepted_at  timestamptz,
    revoked_by   text,
    revoked_at   timestamptz,
    expired_at   timestamptz,
    sent_count   int         NOT NULL DEFAULT 0, -- mails actually handed to the SMTP server
    last_sent_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'accepted') = (accepted_by IS NOT NULL))
);
-- One pending invitation per address and tenant: a second invite is "already invited" (resend it instead).
CREATE UNIQUE INDEX invitations_one_pending ON invitations (tenant_id, email) WHERE status = 'pending';
CREATE INDEX invitations_by_tenant ON invitations (tenant_id, created_at DESC, id);
CREATE INDEX invitations_due ON invitations (expires_at) WHERE status = 'pending';

-- The mail outbox: a row per invitation whose mail is still to be sent (made in the transaction that created
-- or resent it). The sender claims a row FOR UPDATE SKIP LOCKED, sends, and deletes it in that transaction, so
-- two replicas never send the same row, and a crash before the commit leaves the row for another try. A resend
-- replaces the row's token: a mail not sent yet goes out with the new link only.
CREATE TABLE invitation_mails (
    invitation_id   uuid PRIMARY KEY REFERENCES invitations (id) ON DELETE CASCADE,
    token           text        NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT ''
);
CREATE INDEX invitation_mails_due ON invitation_mails (next_attempt_at);

-- Mails asked for per tenant (invites and resends), for INVITATIONS_PER_HOUR; rows older than an hour are
-- pruned by the next invite of the tenant.
CREATE TABLE invitation_sends (
    tenant_id text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitation_sends_by_tenant ON invitation_sends (tenant_id, at);

-- The API role reads invitations under row-level security: only the admins of the caller's active tenant see
-- that tenant's invitations (the list). Everything that writes, and the lookup by token (the preview and
-- accepting), runs as the service in one transaction, as the membership changes do: accepting makes the caller
-- a member of a tenant they cannot see yet, and the token (256 random bits, compared by hash) is what
-- authorises it. bbq_api gets no access to token_hash, invitation_mails or invitation_sends.
GRANT SELECT (id, tenant_id, email, role, status, created_at, expires_at, invited_by, accepted_by, accepted_at,
    revoked_at, expired_at, sent_count, last_sent_at, updated_at) ON invitations TO bbq_api;
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY invitations_of_admins ON invitations FOR SELECT TO bbq_api
    USING (tenant_id = app_active_tenant() AND EXISTS (
        SELECT FROM memberships m WHERE m.tenant_id = invitations.tenant_id
            AND m.user_id = current_setting('app.user_id', true) AND m.role = 'admin'));

-- +goose Down
DROP TABLE invitation_sends, invitation_mails, invitations;
