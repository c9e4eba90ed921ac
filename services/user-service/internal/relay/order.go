package relay

import (
	"encoding/json"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Per-subject order. The relay pipelines a batch (PublishMsgAsync, then waits for the PubAcks), and a
// pipeline can lose one message and store the next: a NATS node dies with the first on its socket, the client
// reconnects and flushes the second from its reconnect buffer. The first is then republished after the
// second, and a consumer sees UserUpdated before UserCreated. So an event whose CloudEvent subject (the user or
// tenant) already has an unacknowledged event in flight waits until everything before it is acknowledged:
// two events about one subject are never in flight together, while events about different subjects still
// share a round trip. (Across replicas, one drain at a time holds: see store.DrainOutbox.)

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

// inFlight tracks the order keys of the events published since the last barrier.
type inFlight map[string]struct{}

// mustWait says whether e must wait for the PubAcks in flight; it records e's key as in flight.
func (f inFlight) mustWait(e store.OutboxEvent) bool {
	k := orderKey(e)
	_, busy := f[k]
	if busy {
		clear(f)
	}
	f[k] = struct{}{}
	return busy
}
