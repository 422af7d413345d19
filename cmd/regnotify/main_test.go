package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a command leaves a goroutine behind: run,
// replay, bulk-link and gigya-sim start consumers, writers and servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kafka-go's package-level connection pool janitor.
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
	)
}
