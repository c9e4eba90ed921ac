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

// orderKey is what the bus must keep in order: the CloudEvent subject; the outbox id when it cannot be read
// (such an event waits for nothing).
func orderKey(e store.OutboxEvent) string {
	var ce struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(e.Event, &ce); err != nil || ce.Subject == "" {
		return "id:" + e.ID
	}
	return ce.Subject
}

// nextWave splits events (in outbox order) into the next wave, the first event of each subject, and the
// rest, in their order.
func nextWave(events []store.OutboxEvent) (wave, rest []store.OutboxEvent) {
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		k := orderKey(e)
		if seen[k] {
			rest = append(rest, e)
			continue
		}
		seen[k] = true
		wave = append(wave, e)
	}
	return wave, rest
}
