package relay

import (
	"encoding/json"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Per-subject order. The relay pipelines (PublishMsgAsync, then waits for the PubAcks), and a pipeline can
// lose one message and store the next: a NATS node dies with the first on its socket, the client reconnects
// and flushes the second from its reconnect buffer. The first is then republished after the second, and a
// consumer sees UserUpdated before UserCreated. So two events about one CloudEvent subject (the user or
// tenant) are never in flight together: a batch goes out in waves, each wave the first unsent event of every
// subject, in outbox order; a wave goes only when the one before is acknowledged in full. Events about
// different subjects share a round trip whatever their order: a sign-up's TenantCreated and UserCreated go in
// one wave and its TenantMemberAdded (the tenant's second event) in the next, so a batch takes as many round
// trips as its busiest subject has events, not one per sign-up. (Across replicas, one drain at a time holds:
// see store.DrainOutbox.)

// outgoing is an outbox event with what the relay reads from its CloudEvent, once: its order key (the
// CloudEvent subject; the outbox id when it cannot be read, so that it waits for nothing) and its traceparent.
type outgoing struct {
	store.OutboxEvent
	key, traceParent string
}

func prepare(batch []store.OutboxEvent) []outgoing {
	out := make([]outgoing, len(batch))
	for i, e := range batch {
		var ce struct {
			Subject     string `json:"subject"`
			TraceParent string `json:"traceparent"`
		}
		_ = json.Unmarshal(e.Event, &ce) // the store wrote it; an unreadable one has no subject and starts a new trace
		out[i] = outgoing{OutboxEvent: e, key: ce.Subject, traceParent: ce.TraceParent}
		if ce.Subject == "" {
			out[i].key = "id:" + e.ID
		}
	}
	return out
}

// nextWave splits events (in outbox order) into the next wave, the first event of each subject, and the
// rest, in their order.
func nextWave(events []outgoing) (wave, rest []outgoing) {
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		if seen[e.key] {
			rest = append(rest, e)
			continue
		}
		seen[e.key] = true
		wave = append(wave, e)
	}
	return wave, rest
}
