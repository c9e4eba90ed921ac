package ops

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestFailed(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	canceledStart := fmt.Errorf("checkpoint bucket: %w", context.Canceled)
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", live, nil, false},
		{"an error while running", live, errors.New("boom"), true},
		{"canceled without a stop", live, canceledStart, true},
		{"stopped during start-up", stopped, canceledStart, false},
		{"another error after the stop", stopped, errors.New("flush failed"), true},
	} {
		if got := Failed(c.ctx, c.err); got != c.want {
			t.Errorf("%s: Failed = %v, want %v", c.name, got, c.want)
		}
	}
}
