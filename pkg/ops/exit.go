package ops

import (
	"context"
	"errors"
)

// Failed says whether run's error is a failure worth exit status 1. A stop asked for by a signal while the
// service was still starting ends its start-up with context.Canceled: that is a clean stop, not a failure.
func Failed(ctx context.Context, err error) bool {
	return err != nil && (ctx.Err() == nil || !errors.Is(err, context.Canceled))
}
