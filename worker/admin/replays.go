package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/worker/control"
	"github.com/regnotify/regnotify/worker/replay"
)

// Strings is a filter value: a JSON string or an array of strings.
type Strings []string

// UnmarshalJSON accepts "x" as well as ["x","y"].
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one == "" {
			*s = nil
		} else {
			*s = Strings{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or an array of strings")
	}
	*s = many
	return nil
}

// Offset names one dead letter.
type Offset struct {
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

// ReplayRequest is the body of POST /api/v1/replays: the filters of
// `regnotify replay` and/or explicit dead-letter offsets (both given: a
// record must be at one of the offsets and pass the filters).
type ReplayRequest struct {
	Class      Strings  `json:"class,omitempty"`
	Code       Strings  `json:"code,omitempty"`
	Topic      Strings  `json:"topic,omitempty"`
	Site       Strings  `json:"site,omitempty"`
	Since      string   `json:"since,omitempty"`
	Until      string   `json:"until,omitempty"`
	MaxReplays int      `json:"maxReplays,omitempty"`
	Offsets    []Offset `json:"offsets,omitempty"`
	DryRun     bool     `json:"dryRun,omitempty"`
	Force      bool     `json:"force,omitempty"`
}

func (r ReplayRequest) filter() (replay.Filter, error) {
	f := replay.Filter{Classes: r.Class, Codes: r.Code, Topics: r.Topic, Sites: r.Site, MaxReplays: r.MaxReplays}
	for _, tb := range []struct {
		name, v string
		dst     *time.Time
	}{{"since", r.Since, &f.Since}, {"until", r.Until, &f.Until}} {
		if tb.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, tb.v)
		if err != nil {
			return f, &badRequest{fmt.Sprintf("%s: want an RFC 3339 time, got %q", tb.name, tb.v)}
		}
		*tb.dst = t
	}
	if f.MaxReplays < 0 {
		return f, &badRequest{"maxReplays: want 0 (no loop guard) or more"}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, &badRequest{"since must be before until"}
	}
	return f, nil
}

// Planned is one copy a replay sends (or, in a dry run, would send).
type Planned struct {
	Partition   int               `json:"partition"` // the dead letter's
	Offset      int64             `json:"offset"`
	Topic       string            `json:"topic"` // where the copy goes
	Key         string            `json:"key"`
	ReplayCount string            `json:"replayCount"`
	Headers     map[string]string `json:"headers"`
}

// ReplayResult is the answer of POST /api/v1/replays. Matched counts the
// dead letters the request selects; Replayed the copies sent (0 in a dry
// run). The other fields are beyond the contract, for the console.
type ReplayResult struct {
	Matched            int64     `json:"matched"`
	Replayed           int64     `json:"replayed"`
	DryRun             bool      `json:"dryRun"`
	WouldReplay        int64     `json:"wouldReplay"`
	AlreadyReplayed    int64     `json:"alreadyReplayed"`
	SkippedByLoopGuard int64     `json:"skippedByLoopGuard"`
	Unreplayable       int64     `json:"unreplayable"`
	NotFound           []Offset  `json:"notFound,omitempty"`
	Records            []Planned `json:"records,omitempty"` // dry run: the first maxPlanned copies
}

const maxPlanned = 200

// runReplay runs a replay (or dry run) for the caller id and audits it. Like
// `regnotify replay` it decides with replay.Filter and copies with
// replay.Copy; unlike it, it reads the dead letters by offset (not in a
// consumer group) and refuses a dead letter this API replayed before
// unless req.Force.
func (s *Server) runReplay(ctx context.Context, id identity, req ReplayRequest) (ReplayResult, error) {
	res, err := s.replay(ctx, id, req)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	params := req
	if len(params.Offsets) > 20 {
		params.Offsets = params.Offsets[:20] // the line stays one line
	}
	s.audit(id, "replay", params, fmt.Sprintf("%s: matched %d, replayed %d, would replay %d, already replayed %d",
		outcome, res.Matched, res.Replayed, res.WouldReplay, res.AlreadyReplayed), err)
	return res, err
}

func (s *Server) replay(ctx context.Context, id identity, req ReplayRequest) (ReplayResult, error) {
	f, err := req.filter()
	if err != nil {
		return ReplayResult{}, err
	}
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	res := ReplayResult{DryRun: req.DryRun}
	skip := func(m kafka.Message) bool {
		return !req.Force && s.opts.Control.Replayed(s.opts.DLQTopic, m.Partition, m.Offset)
	}
	step := func(msgs []kafka.Message) error {
		planned, st := replay.Plan(msgs, f, s.opts.DLQTopic, skip)
		res.Matched += int64(len(msgs)) - st.SkippedByFilter
		res.AlreadyReplayed += st.AlreadyReplayed
		res.SkippedByLoopGuard += st.SkippedByLoopGuard
		res.Unreplayable += st.Unreplayable
		res.WouldReplay += st.Replayed
		if req.DryRun {
			for _, p := range planned {
				if len(res.Records) < maxPlanned {
					res.Records = append(res.Records, toPlanned(p))
				}
			}
			return nil
		}
		if err := replay.Send(ctx, s.writer, planned); err != nil {
			return err
		}
		res.Replayed += int64(len(planned))
		offs := make([]control.Offset, len(planned))
		for i, p := range planned {
			offs[i] = control.Offset{Partition: p.Source.Partition, Offset: p.Source.Offset}
		}
		if err := s.opts.Control.MarkReplayed(ctx, s.opts.DLQTopic, offs, id.Name, req.Force); err != nil {
			return fmt.Errorf("replay: sent %d copies but could not record them as replayed: %w", len(planned), err)
		}
		return nil
	}
	if len(req.Offsets) > 0 {
		err = s.byOffsets(ctx, req.Offsets, &res, step)
	} else {
		err = s.scanAll(ctx, step)
	}
	return res, err
}

func toPlanned(p replay.Planned) Planned {
	h := make(map[string]string, len(p.Copy.Headers))
	for _, x := range p.Copy.Headers {
		h[x.Key] = string(x.Value)
	}
	return Planned{Partition: p.Source.Partition, Offset: p.Source.Offset, Topic: p.Copy.Topic, Key: string(p.Copy.Key),
		ReplayCount: h["regnotify.replay.count"], Headers: h}
}

// byOffsets reads the dead letters at offs (in partition and offset order)
// and passes them to step; offsets outside the topic are listed in NotFound.
func (s *Server) byOffsets(ctx context.Context, offs []Offset, res *ReplayResult, step func([]kafka.Message) error) error {
	if len(offs) > 10000 {
		return &badRequest{"offsets: at most 10000 per replay"}
	}
	first, end, err := s.bounds(ctx)
	if err != nil {
		return err
	}
	sorted := append([]Offset(nil), offs...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Partition != sorted[j].Partition {
			return sorted[i].Partition < sorted[j].Partition
		}
		return sorted[i].Offset < sorted[j].Offset
	})
	var batch []kafka.Message
	seen := map[Offset]bool{}
	for _, o := range sorted {
		if seen[o] {
			continue
		}
		seen[o] = true
		e, ok := end[o.Partition]
		if !ok || o.Offset < first[o.Partition] || o.Offset >= e {
			res.NotFound = append(res.NotFound, o)
			continue
		}
		msgs, err := s.readRange(ctx, o.Partition, o.Offset, o.Offset+1)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			res.NotFound = append(res.NotFound, o)
			continue
		}
		batch = append(batch, msgs...)
		if len(batch) >= chunk {
			if err := step(batch); err != nil {
				return err
			}
			batch = nil
		}
	}
	return step(batch)
}

// scanAll passes every dead letter up to the end as of now to step, in
// chunks, partition by partition.
func (s *Server) scanAll(ctx context.Context, step func([]kafka.Message) error) error {
	first, end, err := s.bounds(ctx)
	if err != nil {
		return err
	}
	parts := make([]int, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	for _, p := range parts {
		for off := first[p]; off < end[p]; off += chunk {
			msgs, err := s.readRange(ctx, p, off, min(off+chunk, end[p]))
			if err != nil {
				return err
			}
			if err := step(msgs); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseOffsets reads "p:o" pairs (the console's hidden field).
func parseOffsets(vals []string) ([]Offset, error) {
	var out []Offset
	for _, v := range vals {
		var p, o string
		for i := 0; i < len(v); i++ {
			if v[i] == ':' {
				p, o = v[:i], v[i+1:]
				break
			}
		}
		pn, err1 := strconv.Atoi(p)
		on, err2 := strconv.ParseInt(o, 10, 64)
		if err1 != nil || err2 != nil || pn < 0 || on < 0 {
			return nil, &badRequest{fmt.Sprintf("offset %q: want partition:offset", v)}
		}
		out = append(out, Offset{Partition: pn, Offset: on})
	}
	return out, nil
}
