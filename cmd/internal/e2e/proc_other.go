//go:build !linux

package e2e

import (
	"errors"
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func procUsage(int) (Usage, error) {
	return Usage{}, errors.New("e2e: usage of a running process is read from /proc: Linux only")
}

// maxRSS is 0 where ru_maxrss's unit differs (bytes on macOS) and is not
// worth a case.
func maxRSS(*os.ProcessState) int64 { return 0 }
