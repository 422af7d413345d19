package main

import (
	"testing"

	"github.com/regnotify/regnotify/worker/kafkatest"
)

// TestMain fails the package if a command leaves a goroutine behind: run,
// replay, bulk-link and gigya-sim start consumers, writers and servers.
func TestMain(m *testing.M) { kafkatest.VerifyTestMain(m) }
