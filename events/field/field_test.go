package field_test

import (
	"errors"
	"io/fs"
	"testing"

	"go.uber.org/goleak"

	"github.com/regnotify/regnotify/events/field"
)

func TestErrorf(t *testing.T) {
	e := field.Errorf("Options", "Secret", "is not valid base64")
	if got, want := e.Error(), "Options.Secret is not valid base64"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	w := field.Errorf("kafka", "TLSCAFile", "cannot be read: %w", fs.ErrNotExist)
	if !errors.Is(w, fs.ErrNotExist) || w.Field != "TLSCAFile" {
		t.Errorf("Errorf with %%w: Is(ErrNotExist) = %v, Field %q; want true, TLSCAFile", errors.Is(w, fs.ErrNotExist), w.Field)
	}
	var fe *field.Error
	if !errors.As(error(w), &fe) {
		t.Error("errors.As(*field.Error) = false")
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
