// Command regnotify keeps a user database and a Gigya (SAP Customer Data
// Cloud) site in step: it consumes registration events from Kafka and calls
// socialize.notifyRegistration for each. See README.md and the contract.
//
// This package only turns flags and environment variables into typed options
// and hands them to the worker, events and gigya packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// Set by -ldflags at build time.
var (
	version = "dev"
	commit  = "unknown"
)

type cli struct {
	Run      runCmd      `cmd:"" help:"Run the worker: consume events, notify Gigya, dead-letter what cannot succeed."`
	Dev      devCmd      `cmd:"" help:"Everything in one process: embedded Kafka broker, Gigya simulator and worker."`
	Replay   replayCmd   `cmd:"" help:"Copy dead-lettered events back to their original topics."`
	BulkLink bulkLinkCmd `cmd:"" name:"bulk-link" help:"Turn a CSV or JSON-lines file of existing accounts into account.linked events."`
	Check    checkCmd    `cmd:"" help:"Preflight with run's configuration: Kafka, topics and every site's Gigya credentials; a table, exit 0 all good, 1 problems, 2 bad configuration."`
	GigyaSim gigyaSimCmd `cmd:"" name:"gigya-sim" help:"Run the Gigya simulator as a standalone server."`
	Version  versionCmd  `cmd:"" help:"Print version, commit and Go version."`
	Docs     docsCmd     `cmd:"" hidden:"" help:"Print the configuration reference generated from the flag definitions."`
}

// env is what every command's Run receives: the process context (cancelled
// on SIGINT/SIGTERM) and where to write.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

// usageError marks bad configuration or usage: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main parses args, runs the command and returns the process exit code:
// 0 done or clean shutdown, 1 runtime failure, 2 bad configuration or usage.
// Tests drive it end to end.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cli
	exit := -1
	parser, err := kong.New(&c,
		kong.Name("regnotify"),
		kong.Description("Notify Gigya of registrations and account links published to Kafka."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintf(stderr, "regnotify: %v\n", err)
		return 1
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "regnotify: %v\n", err)
		return 2
	}
	if err := kctx.Run(&env{ctx: ctx, stdout: stdout, stderr: stderr}); err != nil {
		fmt.Fprintf(stderr, "regnotify: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}
