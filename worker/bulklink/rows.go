package bulklink

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regnotify/regnotify/events"
)

// row is one data row of the input file: its fields, or why it could not be
// read.
type row struct {
	line         int // 1-based line the row starts on
	uid, siteUID string
	cid          string
	occurredAt   time.Time
	eventID      string // as given in a JSON line; "" if none
	err          string // the row is unreadable; the fields may be partial
}

// rowReader yields the data rows of a file one by one.
type rowReader interface {
	// next returns the next row, or io.EOF. Any other error ends the
	// file (it cannot be read on).
	next() (row, error)
}

// HeaderError says the CSV header row is not usable: the file is not what
// bulk-link expects, so no row is read.
type HeaderError struct{ msg string }

func (e *HeaderError) Error() string { return "bulk-link: CSV header: " + e.msg }

// csvRows reads a CSV file with a header row naming the columns uid and
// siteUid and optionally cid, in any order, in any letter case.
type csvRows struct {
	r                 *csv.Reader
	uid, siteUID, cid int // column index; cid -1 if absent
	width             int
}

func newCSVRows(r io.Reader) (*csvRows, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked per row, so that a bad row is a reject, not the end
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &HeaderError{msg: "the file is empty"}
	}
	if err != nil {
		return nil, &HeaderError{msg: err.Error()}
	}
	c := &csvRows{r: cr, uid: -1, siteUID: -1, cid: -1, width: len(header)}
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		var p *int
		switch name {
		case "uid":
			p = &c.uid
		case "siteuid":
			p = &c.siteUID
		case "cid":
			p = &c.cid
		default:
			return nil, &HeaderError{msg: fmt.Sprintf("unknown column %q (want uid, siteUid and optionally cid)", name)}
		}
		if *p >= 0 {
			return nil, &HeaderError{msg: fmt.Sprintf("column %q appears twice", name)}
		}
		*p = i
	}
	if c.uid < 0 || c.siteUID < 0 {
		return nil, &HeaderError{msg: "want the columns uid and siteUid (and optionally cid)"}
	}
	return c, nil
}

func (c *csvRows) next() (row, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return row{}, io.EOF
	}
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		// The reader goes on after the bad record.
		msg := "CSV: " + perr.Err.Error()
		if perr.Line > perr.StartLine {
			// An unclosed quote swallows the lines after it: say so.
			msg += fmt.Sprintf(" (the row spans lines %d-%d)", perr.StartLine, perr.Line)
		}
		return row{line: perr.StartLine, err: msg}, nil
	}
	if err != nil {
		return row{}, err
	}
	line, _ := c.r.FieldPos(0)
	// A row may leave out the optional cid when it is the last column
	// ("uid,siteUid,cid" header, "u,s" row): spreadsheets drop trailing
	// empty cells.
	shortByCID := len(rec) == c.width-1 && c.cid == c.width-1
	if len(rec) != c.width && !shortByCID {
		return row{line: line, err: fmt.Sprintf("has %d fields, the header %d", len(rec), c.width)}, nil
	}
	r := row{line: line, uid: rec[c.uid], siteUID: rec[c.siteUID]}
	if c.cid >= 0 && c.cid < len(rec) {
		r.cid = rec[c.cid]
	}
	return r, nil
}

// maxLine bounds a JSON line: an event is at most events.MaxRecordSize.
const maxLine = events.MaxRecordSize

// jsonRows reads a JSON-lines file: one event object per line with the event
// fields uid, siteUid and optionally cid, occurredAt, type (account.linked)
// and eventId (which must then be the deterministic one). Blank lines are
// not rows.
type jsonRows struct {
	r    *bufio.Reader
	line int
}

func newJSONRows(r io.Reader) *jsonRows { return &jsonRows{r: bufio.NewReaderSize(r, maxLine+4<<10)} }

type jsonRow struct {
	EventID    *string `json:"eventId"`
	Type       *string `json:"type"`
	OccurredAt *string `json:"occurredAt"`
	UID        string  `json:"uid"`
	SiteUID    string  `json:"siteUid"`
	CID        string  `json:"cid"`
}

func (j *jsonRows) next() (row, error) {
	for {
		b, long, err := j.readLine()
		if err != nil {
			return row{}, err
		}
		j.line++
		r := row{line: j.line}
		if long {
			r.err = "line is longer than " + strconv.Itoa(maxLine) + " bytes"
			return r, nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			r.err = "invalid UTF-8"
			return r, nil
		}
		var v jsonRow
		if err := json.Unmarshal(b, &v); err != nil {
			r.err = "invalid JSON: " + err.Error()
			return r, nil
		}
		r.uid, r.siteUID, r.cid = v.UID, v.SiteUID, v.CID
		if v.Type != nil && *v.Type != string(events.AccountLinked) {
			r.err = `field "type": want "account.linked" or none`
			return r, nil
		}
		if v.EventID != nil {
			r.eventID = *v.EventID
		}
		if v.OccurredAt != nil {
			t, err := time.Parse(time.RFC3339Nano, *v.OccurredAt)
			if err != nil {
				r.err = `field "occurredAt": not an RFC 3339 time`
				return r, nil
			}
			r.occurredAt = t
		}
		return r, nil
	}
}

// readLine returns the next line without its end; long reports a line
// over maxLine bytes, skipped without being held in memory. The slice is
// valid until the next call.
func (j *jsonRows) readLine() (b []byte, long bool, err error) {
	chunk, isPrefix, err := j.r.ReadLine()
	if err != nil {
		return nil, false, err
	}
	if !isPrefix {
		return chunk, len(chunk) > maxLine, nil
	}
	for isPrefix { // longer than the buffer, so longer than maxLine
		if _, isPrefix, err = j.r.ReadLine(); err != nil {
			if err == io.EOF {
				break
			}
			return nil, false, err
		}
	}
	return nil, true, nil
}

// event turns r into the account.linked record value, or says why it is
// rejected: the reason is the events package's rule, which names the field.
func (r row) event() ([]byte, error) {
	if r.err != "" {
		return nil, errors.New(r.err)
	}
	ev := events.Event{
		EventID: events.LinkEventID(r.uid, r.siteUID), Type: events.AccountLinked, OccurredAt: r.occurredAt,
		UID: r.uid, SiteUID: r.siteUID, CID: r.cid,
	}
	if r.eventID != "" && r.eventID != ev.EventID {
		return nil, errors.New(`field "eventId": bulk-link derives it from uid and siteUid; leave it out`)
	}
	return events.Encode(ev)
}
