package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/worker/replay"
	"github.com/regnotify/regnotify/worker/status"
)

type (
	siteDoc      = status.Site
	laneDoc      = status.Lane
	partitionDoc = status.Partition
)

const (
	defaultLimit = 50
	maxLimit     = 500
	chunk        = 200  // records fetched per step backwards
	maxScan      = 5000 // records scanned per partition per page, so one page stays cheap
)

// Query is a dead-letter search: the filters of GET /api/v1/dead-letters.
type Query struct {
	Filter replay.Filter // site, class, code, topic, since, until
	Q      string        // uid or eventId: matched in key, value and header values
	Limit  int
	Cursor map[int]int64 // per partition, the offset below which the next page starts
}

// parseQuery reads the contract's query parameters (each a single value).
func parseQuery(v url.Values) (Query, error) {
	var q Query
	one := func(name string) []string {
		if s := v.Get(name); s != "" {
			return []string{s}
		}
		return nil
	}
	q.Filter = replay.Filter{Classes: one("class"), Codes: one("code"), Topics: one("topic"), Sites: one("site")}
	for _, tb := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Filter.Since}, {"until", &q.Filter.Until}} {
		if s := v.Get(tb.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, fmt.Errorf("%s: want an RFC 3339 time, got %q", tb.name, s)
			}
			*tb.dst = t
		}
	}
	q.Q = v.Get("q")
	q.Limit = defaultLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return q, fmt.Errorf("limit: want 1 to %d, got %q", maxLimit, s)
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			return q, err
		}
		q.Cursor = c
	}
	return q, nil
}

func encodeCursor(c map[int]int64) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (map[int]int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c map[int]int64
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return nil, errors.New("cursor: not one this server gave")
	}
	return c, nil
}

// matches reports whether dead letter m passes q's filters and search.
func (q Query) matches(m kafka.Message, dlq string) bool {
	if v, _ := q.Filter.Decide(m, dlq); v == replay.SkipFilter {
		return false
	}
	if q.Q == "" {
		return true
	}
	needle := []byte(q.Q)
	if bytes.Equal(m.Key, needle) || bytes.Contains(m.Value, needle) {
		return true
	}
	for _, h := range m.Headers {
		if bytes.Equal(h.Value, needle) {
			return true
		}
	}
	return false
}

// Record is one dead letter as the API shows it.
type Record struct {
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
}

func toRecord(m kafka.Message) Record {
	h := make(map[string]string, len(m.Headers))
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return Record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Time.UTC(), Key: string(m.Key), Value: string(m.Value), Headers: h}
}

// Page is the answer of GET /api/v1/dead-letters. Cursor is empty on the
// last page.
type Page struct {
	Records []Record `json:"records"`
	Cursor  string   `json:"cursor"`
}

// scanned is what list read of one partition.
type scanned struct {
	matches []kafka.Message // newest first
	low     int64           // lowest offset scanned
}

// list returns a page of dead letters matching q, newest first. Each
// partition is read backwards from its cursor in chunks until it gave
// q.Limit matches, reached its start or maxScan records; the partitions'
// matches are merged by timestamp. Since records older than a chunk are
// older in time too, the merge is exact.
func (s *Server) list(ctx context.Context, q Query) (Page, error) {
	first, end, err := s.bounds(ctx)
	if err != nil {
		return Page{}, err
	}
	upper := end
	if q.Cursor != nil {
		upper = make(map[int]int64, len(end))
		for p := range end {
			c, ok := q.Cursor[p]
			switch {
			case !ok:
				upper[p] = first[p] // finished in an earlier page
			case c < end[p]:
				upper[p] = c
			default:
				upper[p] = end[p]
			}
		}
	}
	parts := map[int]*scanned{}
	var all []kafka.Message
	for p, up := range upper {
		sc, err := s.scanBack(ctx, q, p, first[p], up)
		if err != nil {
			return Page{}, err
		}
		parts[p] = sc
		all = append(all, sc.matches...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.After(b.Time)
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset > b.Offset
	})
	taken := map[int]int{}
	out := Page{Records: []Record{}}
	for _, m := range all[:min(len(all), q.Limit)] {
		out.Records = append(out.Records, toRecord(m))
		taken[m.Partition]++
	}
	out.Cursor = nextCursor(parts, taken, first, upper)
	return out, nil
}

// scanBack reads partition p backwards from up (exclusive) in chunks.
func (s *Server) scanBack(ctx context.Context, q Query, p int, first, up int64) (*scanned, error) {
	sc := &scanned{low: up}
	for sc.low > first && len(sc.matches) < q.Limit && up-sc.low < maxScan {
		from := max(first, sc.low-chunk)
		msgs, err := s.readRange(ctx, p, from, sc.low)
		if err != nil {
			return nil, err
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if q.matches(msgs[i], s.opts.DLQTopic) {
				sc.matches = append(sc.matches, msgs[i])
			}
		}
		sc.low = from
	}
	return sc, nil
}

// nextCursor says where each partition's next page starts: below the last
// record taken from it, or below what was scanned when all its matches were
// taken. It is empty when every partition is done.
func nextCursor(parts map[int]*scanned, taken map[int]int, first, upper map[int]int64) string {
	next, more := map[int]int64{}, false
	for p, sc := range parts {
		n := taken[p]
		switch {
		case n == 0 && len(sc.matches) > 0:
			next[p] = upper[p]
		case n < len(sc.matches):
			next[p] = sc.matches[n-1].Offset
		default:
			next[p] = sc.low
		}
		if next[p] > first[p] {
			more = true
		}
	}
	if !more {
		return ""
	}
	return encodeCursor(next)
}

// bounds returns the first and end offsets of each dead-letter partition.
func (s *Server) bounds(ctx context.Context) (first, end map[int]int64, err error) {
	md, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.opts.DLQTopic}})
	if err != nil {
		return nil, nil, fmt.Errorf("metadata of %s: %w", s.opts.DLQTopic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, nil, fmt.Errorf("dead-letter topic %s not found", s.opts.DLQTopic)
	}
	var firsts, lasts []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		firsts = append(firsts, kafka.FirstOffsetOf(p.ID))
		lasts = append(lasts, kafka.LastOffsetOf(p.ID))
	}
	resp, err := s.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{s.opts.DLQTopic: append(firsts, lasts...)}})
	if err != nil {
		return nil, nil, fmt.Errorf("offsets of %s: %w", s.opts.DLQTopic, err)
	}
	first, end = map[int]int64{}, map[int]int64{}
	for _, po := range resp.Topics[s.opts.DLQTopic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("offsets of %s/%d: %w", s.opts.DLQTopic, po.Partition, po.Error)
		}
		first[po.Partition], end[po.Partition] = po.FirstOffset, po.LastOffset
	}
	return first, end, nil
}

// readRange returns the records of partition p with from <= offset < to.
func (s *Server) readRange(ctx context.Context, p int, from, to int64) ([]kafka.Message, error) {
	var out []kafka.Message
	for off := from; off < to; {
		resp, err := s.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: s.opts.DLQTopic, Partition: p, Offset: off, MinBytes: 1, MaxBytes: 16 << 20,
			MaxWait: 500 * time.Millisecond, IsolationLevel: kafka.ReadCommitted,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return nil, fmt.Errorf("fetch %s/%d at %d: %w", s.opts.DLQTopic, p, off, err)
		}
		progressed := false
		for {
			r, err := resp.Records.ReadRecord()
			if err != nil {
				break
			}
			if r.Offset < off || r.Offset >= to {
				continue
			}
			m, err := toMessage(s.opts.DLQTopic, p, r)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
			off, progressed = r.Offset+1, true
		}
		if !progressed { // a gap (compaction, aborted transaction) or the end
			if resp.HighWatermark <= off {
				break
			}
			off++
		}
	}
	return out, nil
}

func toMessage(topic string, p int, r *kafka.Record) (kafka.Message, error) {
	m := kafka.Message{Topic: topic, Partition: p, Offset: r.Offset, Time: r.Time, Headers: r.Headers}
	var err error
	if r.Key != nil {
		if m.Key, err = kafka.ReadAll(r.Key); err != nil {
			return m, fmt.Errorf("read %s/%d at %d: %w", topic, p, r.Offset, err)
		}
	}
	if r.Value != nil {
		if m.Value, err = kafka.ReadAll(r.Value); err != nil {
			return m, fmt.Errorf("read %s/%d at %d: %w", topic, p, r.Offset, err)
		}
	}
	return m, nil
}
