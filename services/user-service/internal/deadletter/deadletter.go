// Package deadletter lists and replays the messages a consumer gave up on.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/bus"
)

// Letter is one dead-lettered message.
type Letter struct {
	Seq        uint64 `json:"seq"` // in the dead-letter stream
	Subject    string `json:"subject"`
	Error      string `json:"error"`
	Reason     string `json:"reason,omitempty"`
	Deliveries string `json:"deliveries"`
	Data       []byte `json:"-"`
	msg        *jetstream.RawStreamMsg
}

// List returns the dead letters of stream, oldest first.
func List(ctx context.Context, js jetstream.JetStream, stream string) ([]Letter, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", stream, err)
	}
	var out []Letter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read dead letter %d: %w", seq, err)
		}
		out = append(out, Letter{Seq: seq, Subject: m.Header.Get(bus.HeaderDeadLetterSubject), Error: m.Header.Get(bus.HeaderDeadLetterError),
			Reason:     m.Header.Get(bus.HeaderDeadLetterReason),
			Deliveries: m.Header.Get(bus.HeaderDeadLetterDeliveries), Data: m.Data, msg: m})
	}
	return out, nil
}

// Replay republishes dead letters on their original subject (all of them when seqs is empty) and
// removes them from the dead-letter stream. The CloudEvent keeps its id, so the consumer's inbox
// still guarantees it is applied once.
func Replay(ctx context.Context, js jetstream.JetStream, stream string, seqs ...uint64) (int, error) {
	letters, err := List(ctx, js, stream)
	if err != nil {
		return 0, err
	}
	want := map[uint64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range letters {
		if len(want) > 0 && !want[l.Seq] {
			continue
		}
		if l.Subject == "" {
			return n, fmt.Errorf("dead letter %d has no original subject", l.Seq)
		}
		msg := nats.NewMsg(l.Subject)
		msg.Data = l.Data
		for k, v := range l.msg.Header {
			msg.Header[k] = v
		}
		for _, h := range []string{bus.HeaderDeadLetterError, bus.HeaderDeadLetterReason, bus.HeaderDeadLetterSubject, bus.HeaderDeadLetterSeq, bus.HeaderDeadLetterDeliveries, jetstream.MsgIDHeader} {
			msg.Header.Del(h)
		}
		// A new message id: the original id is within the bus's duplicate window only if it failed fast.
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("replay-"+stream+"-"+strconv.FormatUint(l.Seq, 10))); err != nil {
			return n, fmt.Errorf("replay dead letter %d: %w", l.Seq, err)
		}
		if err := s.DeleteMsg(ctx, l.Seq); err != nil {
			return n, fmt.Errorf("remove replayed dead letter %d: %w", l.Seq, err)
		}
		n++
	}
	return n, nil
}
