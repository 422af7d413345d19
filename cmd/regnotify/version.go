package main

import (
	"fmt"
	"runtime"
)

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	_, err := fmt.Fprintf(e.stdout, "regnotify %s (commit %s, %s)\n", version, commit, runtime.Version())
	return err
}
