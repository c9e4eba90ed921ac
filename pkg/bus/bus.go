// Package bus is the JetStream side of the contract: the one stream that is the bus, the dead-letter
// stream beside it, and publishing CloudEvents so that a retried publish is dropped as a duplicate.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/events"
)

// Config of the bus stream, read from the environment of every service that starts it.
type Config struct {
	Stream          string        `env:"BUS_STREAM" envDefault:"EVENTS"`
	Replicas        int           `env:"BUS_REPLICAS" envDefault:"1"`
	DuplicateWindow time.Duration `env:"BUS_DUPLICATE_WINDOW" envDefault:"10m"`
	MaxAge          time.Duration `env:"BUS_MAX_AGE" envDefault:"720h"`
	MaxBytes        int64         `env:"BUS_MAX_BYTES" envDefault:"-1"`
	// DeadLetterStream keeps messages no consumer could handle; it is not part of the bus.
	DeadLetterStream string `env:"BUS_DEADLETTER_STREAM" envDefault:"DEADLETTERS"`
	// DeadLetterMaxAge bounds how long a dead letter, which holds the person's data, is kept (0: forever).
	DeadLetterMaxAge time.Duration `env:"BUS_DEADLETTER_MAX_AGE" envDefault:"336h"`
}

// Validate says what is wrong with a configuration, all at once.
func (c Config) Validate() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("BUS_STREAM must not be empty"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("BUS_REPLICAS must be 1..5, got %d", c.Replicas))
	}
	if c.DuplicateWindow < 2*time.Minute {
		errs = append(errs, fmt.Errorf("BUS_DUPLICATE_WINDOW must be at least 2m (retries must be deduplicated), got %s", c.DuplicateWindow))
	}
	if c.MaxAge != 0 && c.MaxAge < c.DuplicateWindow {
		errs = append(errs, fmt.Errorf("BUS_MAX_AGE (%s) must be 0 or at least BUS_DUPLICATE_WINDOW (%s)", c.MaxAge, c.DuplicateWindow))
	}
	if c.MaxBytes == 0 || c.MaxBytes < -1 {
		errs = append(errs, fmt.Errorf("BUS_MAX_BYTES must be -1 (unlimited) or positive, got %d", c.MaxBytes))
	}
	if c.DeadLetterMaxAge < 0 || c.DeadLetterMaxAge != 0 && c.DeadLetterMaxAge < c.DuplicateWindow {
		errs = append(errs, fmt.Errorf("BUS_DEADLETTER_MAX_AGE (%s) must be 0 or at least BUS_DUPLICATE_WINDOW (%s)", c.DeadLetterMaxAge, c.DuplicateWindow))
	}
	if c.DeadLetterStream == "" || c.DeadLetterStream == c.Stream {
		errs = append(errs, errors.New("BUS_DEADLETTER_STREAM must be set and differ from BUS_STREAM"))
	}
	return errors.Join(errs...)
}

// DeadLetterSubjects are the subjects of the dead-letter stream: deadletter.<consumer>.<original subject>.
const DeadLetterSubjects = "deadletter.>"

// Ensure creates the bus and dead-letter streams, or updates them to this configuration. Every
// service calls it at start-up, so whichever starts first creates them.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	streams := []jetstream.StreamConfig{
		{
			Name:        c.Stream,
			Description: "The Connected BBQ bus: every CloudEvent of the platform",
			Subjects:    []string{events.StreamSubjects},
			Storage:     jetstream.FileStorage,
			Replicas:    c.Replicas,
			Duplicates:  c.DuplicateWindow,
			MaxAge:      c.MaxAge,
			MaxBytes:    c.MaxBytes,
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        c.DeadLetterStream,
			Description: "Messages a consumer gave up on, with the error; replayed by an operator",
			Subjects:    []string{DeadLetterSubjects},
			Storage:     jetstream.FileStorage,
			Replicas:    c.Replicas,
			Duplicates:  c.DuplicateWindow,
			MaxAge:      c.DeadLetterMaxAge,
		},
	}
	for _, sc := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Publisher publishes CloudEvents on the bus.
type Publisher struct {
	js jetstream.JetStream
}

// NewPublisher returns a publisher over js.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// Header names used on the bus.
const (
	ContentType           = "application/cloudevents+json"
	HeaderContentType     = "Content-Type"
	HeaderTraceParent     = "traceparent"
	HeaderDeadLetterError = "Bbq-Deadletter-Error"
	// The original subject, stream sequence and delivery count of a dead-lettered message.
	HeaderDeadLetterSubject    = "Bbq-Deadletter-Subject"
	HeaderDeadLetterSeq        = "Bbq-Deadletter-Stream-Seq"
	HeaderDeadLetterDeliveries = "Bbq-Deadletter-Deliveries"
	// Why it was dead-lettered: one of the few values of bbq_users_dead_letters_total's reason label.
	HeaderDeadLetterReason = "Bbq-Deadletter-Reason"
)

// Publish sends ev on subject and waits for the stream's acknowledgement. The event id is the
// Nats-Msg-Id, so publishing the same event again within the duplicate window is a no-op that
// still succeeds (PubAck.Duplicate is then true).
func (p *Publisher) Publish(ctx context.Context, subject string, ev cloudevents.Event) (*jetstream.PubAck, error) {
	msg, err := Message(subject, ev)
	if err != nil {
		return nil, err
	}
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID()))
	if err != nil {
		return nil, fmt.Errorf("publish %s %s: %w", ev.Type(), ev.ID(), err)
	}
	return ack, nil
}

// Message is the NATS message that carries ev in structured mode.
func Message(subject string, ev cloudevents.Event) (*nats.Msg, error) {
	body, err := events.Encode(ev)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(HeaderContentType, ContentType)
	if tp, ok := ev.Extensions()[events.TraceParentExtension].(string); ok && tp != "" {
		msg.Header.Set(HeaderTraceParent, tp)
	}
	return msg, nil
}

// DeadLetterSubject is where consumer's messages from subject go when it gives up on them.
func DeadLetterSubject(consumer, subject string) string {
	return "deadletter." + consumer + "." + subject
}

// connOptions are a service's connection options: its credentials, reconnecting forever, and the server's
// refusals (wrong password, a missing permission) sent to refused while ConnectAs waits for the streams.
func connOptions(name string, cred Credentials, refused chan<- error, log *slog.Logger) []nats.Option {
	note := func(err error) {
		if r := refusal(err); r != nil {
			select {
			case refused <- r:
			default:
			}
		}
	}
	return append(cred.Options(), nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close at shutdown, nothing to warn about
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { note(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("nats async error", "nats_user", cred.Who(), "err", err)
			note(err)
		}))
}

// Connect connects a service to NATS anonymously and ensures the bus streams; see ConnectAs.
func Connect(ctx context.Context, url, name string, c Config, patience time.Duration, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return ConnectAs(ctx, url, name, Credentials{}, c, patience, log)
}

// ConnectAs connects a service to NATS with cred and ensures the bus streams. NATS may still be starting (pods
// of a release start together): connecting is retried, and the streams are awaited for up to patience, before
// the service gives up with an error naming the server. A refusal (wrong password, a permission the user lacks)
// ends it at once, naming the user.
func ConnectAs(ctx context.Context, url, name string, cred Credentials, c Config, patience time.Duration, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if err := cred.Validate(); err != nil {
		return nil, nil, err
	}
	refused := make(chan error, 1)
	nc, err := nats.Connect(url, connOptions(name, cred, refused, log)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s as %s: %w", url, cred.Who(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	for {
		err := Ensure(ctx, js, c)
		if err == nil {
			return nc, js, nil
		}
		r := refusal(err)
		if r == nil {
			select {
			case r = <-refused:
			default:
				r = refusal(nc.LastError())
			}
		}
		if r != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("NATS at %s refused %s (check NATS_USER/NATS_PASSWORD or NATS_CREDS, and the user's permissions): %w", url, cred.Who(), r)
		}
		if ctx.Err() != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("NATS at %s: %w", url, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
