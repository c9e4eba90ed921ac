package natstest_test

import (
	"testing"

	"github.com/connectedbbq/platform/testing/natstest"
)

// The embedded server's users refuse what the chart's do.
func TestSecuredBusRefusesWhatEachUserMayNotDo(t *testing.T) {
	b := natstest.NewSecured(t)
	natstest.CheckPermissions(t, b.URL, b.Credentials)
}
