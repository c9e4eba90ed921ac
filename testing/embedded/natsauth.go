package embedded

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSUser is one user of the server and what it may publish and subscribe to. It mirrors the chart's NATS
// configuration (deploy/helm/connected-bbq/templates/nats-config.yaml), which the chart's test checks with the
// same refusals.
type NATSUser struct {
	Name, Password string
	Publish        []string // allowed
	DenyPublish    []string // denied even where Publish allows
	Subscribe      []string
}

// BusNames are the names the permissions are written for.
type BusNames struct {
	Stream, DeadLetters, Bucket, Consumer string
}

// DefaultBusNames are the services' defaults (BUS_STREAM, BUS_DEADLETTER_STREAM, RECONCILE_BUCKET, CONSUMER_NAME).
func DefaultBusNames() BusNames {
	return BusNames{Stream: "EVENTS", DeadLetters: "DEADLETTERS", Bucket: "idp-hook", Consumer: "user-service"}
}

// The platform's NATS users.
const (
	UserIdPHook     = "idp-hook"
	UserUserService = "user-service"
	UserReader      = "reader" // downstream consumers: their own consumers on the bus, no publishing
	UserAdmin       = "admin"  // operators and test harnesses: everything (stream admin, dead-letter replay)
)

// BusUsers are the platform's users with least privilege, with the passwords given by user name.
func BusUsers(n BusNames, passwords map[string]string) []NATSUser {
	api := "$JS.API."
	manage := func(stream string) []string { // what bus.Ensure needs: create or update the stream
		return []string{api + "STREAM.CREATE." + stream, api + "STREAM.UPDATE." + stream, api + "STREAM.INFO." + stream}
	}
	ensure := append([]string{api + "INFO"}, append(manage(n.Stream), manage(n.DeadLetters)...)...)
	kv := "KV_" + n.Bucket
	hook := append(append([]string{"events.idp.>", "$KV." + n.Bucket + ".>", api + "STREAM.MSG.GET." + kv,
		api + "DIRECT.GET." + kv, api + "DIRECT.GET." + kv + ".>"}, ensure...), manage(kv)...)
	consumer := func(stream, name string) []string { // one named consumer: create, read its state, pull, ack
		c := api + "CONSUMER."
		return []string{c + "CREATE." + stream + "." + name, c + "CREATE." + stream + "." + name + ".>",
			c + "DURABLE.CREATE." + stream + "." + name, c + "INFO." + stream + "." + name,
			c + "MSG.NEXT." + stream + "." + name, "$JS.ACK." + stream + "." + name + ".>"}
	}
	service := append(append([]string{"events.users.>", "deadletter." + n.Consumer + ".>",
		api + "STREAM.MSG.GET." + n.DeadLetters}, ensure...), consumer(n.Stream, n.Consumer)...)
	reader := append([]string{api + "INFO", api + "STREAM.INFO." + n.Stream, api + "STREAM.MSG.GET." + n.Stream},
		consumer(n.Stream, "*")...)
	reader = append(reader, api+"CONSUMER.CREATE."+n.Stream+".>", api+"CONSUMER.DELETE."+n.Stream+".*")
	inbox := func(user string) []string { return []string{"_INBOX_" + user + ".>"} }
	return []NATSUser{
		{Name: UserIdPHook, Password: passwords[UserIdPHook], Publish: hook, Subscribe: inbox(UserIdPHook)},
		{Name: UserUserService, Password: passwords[UserUserService], Publish: service, Subscribe: inbox(UserUserService)},
		// The reader may not touch the services' consumer: not change or delete it, not ack its messages.
		{Name: UserReader, Password: passwords[UserReader], Publish: reader, Subscribe: inbox(UserReader),
			DenyPublish: []string{api + "CONSUMER.*." + n.Stream + "." + n.Consumer, api + "CONSUMER.*." + n.Stream + "." + n.Consumer + ".>",
				api + "CONSUMER.DURABLE.CREATE." + n.Stream + "." + n.Consumer, "$JS.ACK." + n.Stream + "." + n.Consumer + ".>"}},
		{Name: UserAdmin, Password: passwords[UserAdmin]},
	}
}

func serverUsers(users []NATSUser) []*server.User {
	var out []*server.User // nil, not empty: an empty list would turn authentication on
	for _, u := range users {
		su := &server.User{Username: u.Name, Password: u.Password}
		if u.Publish != nil || u.Subscribe != nil {
			su.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: u.Publish, Deny: u.DenyPublish},
				Subscribe: &server.SubjectPermission{Allow: u.Subscribe},
			}
		}
		out = append(out, su)
	}
	return out
}

// NATSConfigFile is users' authorization block in nats-server's configuration syntax, for a nats-server process
// (the fault suite's) to run with the same users as the embedded server.
func NATSConfigFile(users []NATSUser) string {
	list := func(subjects []string) string {
		quoted := make([]string, len(subjects))
		for i, s := range subjects {
			quoted[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	var b strings.Builder
	b.WriteString("authorization {\n  users: [\n")
	for _, u := range users {
		fmt.Fprintf(&b, "    {user: %q, password: %q", u.Name, u.Password)
		if u.Publish != nil || u.Subscribe != nil {
			fmt.Fprintf(&b, ", permissions: {publish: {allow: %s, deny: %s}, subscribe: {allow: %s}}",
				list(u.Publish), list(u.DenyPublish), list(u.Subscribe))
		}
		b.WriteString("}\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}
