package main

import (
	"errors"
	"reflect"
	"strings"

	"github.com/regnotify/regnotify/events/field"
)

// flagError turns a configuration error into a usage error. A *field.Error
// is told as "--flag (ENV): reason", the flag and variable read from the
// kong tags of flags: the one place where configuration fields meet flag
// names. A flag field fills the configuration field of its Go name, or the
// ones its `field` tag lists (comma-separated) when the names differ.
func flagError(err error, flags ...any) error {
	var fe *field.Error
	if errors.As(err, &fe) {
		if name := flagOf(fe.Field, flags...); name != "" {
			return usagef("%s: %s", name, fe.Reason)
		}
	}
	return usagef("%v", err)
}

// flagOf returns "--name (ENV)" for the flag that fills the configuration
// field fld, "--name (ENV or ENV_FILE)" when the flag has a _FILE form, or
// "" when no flag does.
func flagOf(fld string, flags ...any) string {
	for _, f := range flags {
		t := reflect.TypeOf(f)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if name := flagIn(t, fld); name != "" {
			return name
		}
	}
	return ""
}

func flagIn(t reflect.Type, fld string) string {
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			if name := flagIn(sf.Type, fld); name != "" {
				return name
			}
			continue
		}
		name, env := sf.Tag.Get("name"), sf.Tag.Get("env")
		if name == "" || !fills(sf, fld) {
			continue
		}
		if file, ok := t.FieldByName(sf.Name + "File"); ok && file.Tag.Get("env") != "" {
			env += " or " + file.Tag.Get("env")
		}
		return "--" + name + " (" + env + ")"
	}
	return ""
}

func fills(sf reflect.StructField, fld string) bool {
	if tag, ok := sf.Tag.Lookup("field"); ok {
		for _, f := range strings.Split(tag, ",") {
			if f == fld {
				return true
			}
		}
		return false
	}
	return sf.Name == fld
}
