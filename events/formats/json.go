package formats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/regnotify/regnotify/events"
)

// jsonDecoder is the json format: any JSON object, fields by pointers.
type jsonDecoder struct{ x *extractor }

func (d *jsonDecoder) Decode(_ context.Context, r Record) (events.Event, error) {
	doc, err := parseJSON(r.Value)
	if err != nil {
		return events.Event{}, err
	}
	return d.x.event(r.Topic, doc)
}

// checkSize applies the contract's record size limit.
func checkSize(b []byte) error {
	if len(b) == 0 {
		return &events.Error{Rule: "empty record"}
	}
	if len(b) > events.MaxRecordSize {
		return &events.Error{Rule: "record is " + strconv.Itoa(len(b)) + " bytes; the limit is " + strconv.Itoa(events.MaxRecordSize)}
	}
	return nil
}

// parseJSON decodes one JSON value. Invalid UTF-8, which encoding/json
// would silently replace, is an error, as in events.Decode. Numbers become
// float64: the pointed fields are strings, and a number is only named.
func parseJSON(b []byte) (any, error) {
	if err := checkText(b); err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, jsonError(err)
	}
	return doc, nil
}

func checkText(b []byte) error {
	if err := checkSize(b); err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return &events.Error{Rule: "invalid UTF-8"}
	}
	return nil
}

// parseJSONNumbers is parseJSON with numbers as json.Number, exact, for
// JSON Schema validation (minimum, multipleOf, ...).
func parseJSONNumbers(b []byte) (any, error) {
	if err := checkText(b); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, jsonError(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, &events.Error{Rule: "malformed JSON: trailing data after the value at byte offset " + strconv.FormatInt(d.InputOffset(), 10)}
	}
	return doc, nil
}

// jsonError describes a decoding error without quoting the record.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &events.Error{Rule: "malformed JSON at byte offset " + strconv.FormatInt(se.Offset, 10)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &events.Error{Rule: "malformed JSON: unexpected end"}
	}
	return &events.Error{Rule: "malformed JSON"}
}
