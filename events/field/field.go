// Package field is the typed error of regnotify's configuration structs
// (gigya.Options, kafkaio.Kafka, worker.Config): which setting is wrong and
// why, so that a command can name the flag and variable behind the field
// instead of rewriting error text.
//
// It is not a validation library: each package checks its own settings.
package field

import "fmt"

// Error is a wrong setting of a configuration struct.
type Error struct {
	Struct string // the struct's name as its package's users write it, e.g. "Options", "Config", "kafka"
	Field  string // the Go field name, e.g. "APIKey"
	Reason string // what is wrong, e.g. "is required"
	Err    error  // the cause, if any
}

// Errorf returns an *Error for strct.fld with a formatted reason; a %w in
// format wraps its argument as Err.
func Errorf(strct, fld, format string, args ...any) *Error {
	e := fmt.Errorf(format, args...)
	var cause error
	if u, ok := e.(interface{ Unwrap() error }); ok {
		cause = u.Unwrap()
	}
	return &Error{Struct: strct, Field: fld, Reason: e.Error(), Err: cause}
}

// Error says "Struct.Field reason".
func (e *Error) Error() string { return e.Struct + "." + e.Field + " " + e.Reason }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
