package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a command leaves a goroutine behind: run,
// replay, bulk-link and gigya-sim start consumers, writers and servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kafka-go's package-level connection pool janitor and kfake's
		// goroutines that outlive Close by a few ms, as in ./worker.
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
