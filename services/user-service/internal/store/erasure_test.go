package store_test

import (
	"context"
	"testing"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// After a deletion, once the relay has published what was pending, no table holds the person's name, user
// name or email: the user row is a tombstone of ids, the personal tenant (named after them) is renamed.
func TestDeletionLeavesNothingPersonal(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	user := "u-ada"
	batch := []events.Decoded{
		event(t, events.UserRegistered, "reg-ada", user, &eventsv1.UserRegistered{UserId: user, Email: "ada.lovelace@example.com",
			UserName: "adal", Name: "Ada Lovelace", Realm: "bbq", EmailVerified: true}),
		event(t, events.IdPUserDeleted, "del-ada", user, &eventsv1.UserDeleted{UserId: user, Realm: "bbq"}),
	}
	for i := range batch { // one at a time, as a person lives and leaves
		if _, errs, err := s.ApplyBatch(ctx, batch[i:i+1]); err != nil || errs[0] != nil {
			t.Fatal(err, errs[0])
		}
		if i == 0 && personal(t, s, "Ada Lovelace") == 0 {
			t.Fatal("the sign-up stored no name: the test would prove nothing")
		}
	}
	if _, err := s.DrainOutbox(ctx, 100, func(_ context.Context, evs []store.OutboxEvent) ([]store.OutboxEvent, error) { return evs, nil }); err != nil {
		t.Fatal(err)
	}
	for _, pii := range []string{"Ada Lovelace", "Lovelace", "ada.lovelace", "adal"} {
		if n := personal(t, s, pii); n > 0 {
			t.Errorf("%d rows still hold %q", n, pii)
		}
	}
	var name string
	if err := s.Pool().QueryRow(ctx, `SELECT display_name FROM tenants WHERE id = $1`, domain.PersonalTenantID(user)).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != domain.ErasedTenantName {
		t.Errorf("personal tenant named %q", name)
	}
}

// personal counts the rows of every table of the schema whose text holds s (case-insensitive).
func personal(t *testing.T, st *store.Store, s string) int {
	t.Helper()
	ctx := context.Background()
	rows, err := st.Pool().Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var tbl string
		if err := rows.Scan(&tbl); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tbl)
	}
	if err := rows.Err(); err != nil || len(tables) < 5 {
		t.Fatalf("tables %v: %v", tables, err)
	}
	total := 0
	for _, tbl := range tables {
		// bytea columns (the outbox's events) print as hex: convert the row's text back where it is one.
		var n int
		q := `SELECT count(*) FROM ` + tbl + ` r WHERE r::text ILIKE '%' || $1 || '%'
			OR replace(r::text, '\x', '') ILIKE '%' || encode(convert_to($1, 'UTF8'), 'hex') || '%'`
		if err := st.Pool().QueryRow(ctx, q, s).Scan(&n); err != nil {
			t.Fatalf("%s: %v", tbl, err)
		}
		total += n
	}
	return total
}

// A person who left their shared first personal tenant got a new one, named after them too: deleting the
// person erases that name as well.
func TestDeletionErasesALaterPersonalTenant(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	user := "u-bo"
	reg := event(t, events.UserRegistered, "reg-bo", user, &eventsv1.UserRegistered{UserId: user, Email: "bo.lindqvist@example.com",
		UserName: "bol", Name: "Bo Lindqvist", Realm: "bbq", EmailVerified: true})
	if _, errs, err := s.ApplyBatch(ctx, []events.Decoded{reg}); err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	first := domain.PersonalTenantID(user)
	for _, q := range []string{ // another admin shares Bo's first personal tenant
		`INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
			VALUES ('u-cy', 'bbq', 'cy@example.com', 'Cy', true, true, 'active', $1, 'admin')`,
		`INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, 'u-cy', 'admin')`,
	} {
		if _, err := s.Pool().Exec(ctx, q, first); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Leave(ctx, store.Caller{UserID: user, TenantID: first}); err != nil {
		t.Fatal(err)
	}
	var later string
	if err := s.Pool().QueryRow(ctx, `SELECT tenant_id FROM users WHERE id = $1`, user).Scan(&later); err != nil || later == first {
		t.Fatalf("after leaving, Bo is in %q (%v); want a new personal tenant", later, err)
	}
	del := event(t, events.IdPUserDeleted, "del-bo", user, &eventsv1.UserDeleted{UserId: user, Realm: "bbq"})
	if _, errs, err := s.ApplyBatch(ctx, []events.Decoded{del}); err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	for _, id := range []string{first, later} {
		var name string
		if err := s.Pool().QueryRow(ctx, `SELECT display_name FROM tenants WHERE id = $1`, id).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != domain.ErasedTenantName {
			t.Errorf("personal tenant %s named %q after the deletion; want %q", id, name, domain.ErasedTenantName)
		}
	}
}
