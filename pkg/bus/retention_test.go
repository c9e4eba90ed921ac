package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/natstest"
)

// Dead letters hold a person's data: Ensure gives the dead-letter stream its own MaxAge, and an update of the
// setting reaches a stream that already exists.
func TestDeadLettersExpire(t *testing.T) {
	b := natstest.New(t) // the streams as natstest.Config has them; Ensure then updates them
	js, c := b.JS, b.Config
	ctx := context.Background()
	for _, maxAge := range []time.Duration{336 * time.Hour, 2 * time.Hour, 0} {
		c.DeadLetterMaxAge = maxAge
		if err := bus.Ensure(ctx, js, c); err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(ctx, c.DeadLetterStream)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.MaxAge; got != maxAge {
			t.Errorf("dead-letter MaxAge = %s, want %s", got, maxAge)
		}
		b, err := js.Stream(ctx, c.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.CachedInfo().Config.MaxAge; got != c.MaxAge {
			t.Errorf("bus MaxAge = %s, want %s", got, c.MaxAge)
		}
	}
}

func TestValidateDeadLetterMaxAge(t *testing.T) {
	for _, tt := range []struct {
		maxAge time.Duration
		ok     bool
	}{{0, true}, {336 * time.Hour, true}, {2 * time.Minute, true}, {time.Minute, false}, {-time.Hour, false}} {
		c := natstest.Config()
		c.DeadLetterMaxAge = tt.maxAge
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("DeadLetterMaxAge %s: Validate = %v, want ok %v", tt.maxAge, err, tt.ok)
		}
	}
}
