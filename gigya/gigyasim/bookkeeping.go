package gigyasim

import (
	"container/heap"
	"hash/maphash"
	"strconv"
	"sync"
	"time"
)

// statKey counts calls per method and outcome; outcomes below zero are the
// Code* pseudo-codes.
type statKey struct {
	method string
	code   int
}

type statsRecorder struct {
	mu     sync.Mutex
	counts map[statKey]int
}

func newStatsRecorder() *statsRecorder {
	return &statsRecorder{counts: make(map[statKey]int)}
}

func (r *statsRecorder) add(method string, code int) {
	r.mu.Lock()
	r.counts[statKey{method, code}]++
	r.mu.Unlock()
}

func (r *statsRecorder) snapshot() map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]map[string]int)
	for k, n := range r.counts {
		m := out[k.method]
		if m == nil {
			m = make(map[string]int)
			out[k.method] = m
		}
		m[codeText(k.code)] = n
	}
	return out
}

func (r *statsRecorder) reset() {
	r.mu.Lock()
	clear(r.counts)
	r.mu.Unlock()
}

// codeText is the key of a code in Stats.Calls.
func codeText(code int) string {
	switch code {
	case CodePending:
		return "pending"
	case CodeDropped:
		return "dropped"
	case CodeCanceled:
		return "canceled"
	}
	if code <= -100 {
		return "http_" + strconv.Itoa(-code)
	}
	return strconv.Itoa(code)
}

// callLog keeps every call per UID parameter, in receipt order.
type callLog struct {
	mu    sync.Mutex
	byUID map[string][]Call
	sites map[string][]string // UID → the site name of each call in byUID
}

// start appends c of site (with Code = CodePending) and returns where it is.
func (l *callLog) start(site string, c Call) int {
	if l == nil {
		return -1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byUID == nil {
		l.byUID = make(map[string][]Call)
		l.sites = make(map[string][]string)
	}
	c.Code = CodePending
	l.byUID[c.UID] = append(l.byUID[c.UID], c)
	l.sites[c.UID] = append(l.sites[c.UID], site)
	return len(l.byUID[c.UID]) - 1
}

func (l *callLog) finish(uid string, i, code int) {
	if l == nil || i < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if calls := l.byUID[uid]; i < len(calls) {
		calls[i].Code = code
	}
}

func (l *callLog) get(uid string) []Call {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.byUID[uid]...)
}

func (l *callLog) getAt(site, uid string) []Call {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Call
	for i, c := range l.byUID[uid] {
		if l.sites[uid][i] == site {
			out = append(out, c)
		}
	}
	return out
}

func (l *callLog) reset() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.byUID, l.sites = nil, nil
	l.mu.Unlock()
}

// uidCounter counts in-flight calls per UID, sharded so that 256 connections
// working on different UIDs rarely meet on a lock. Zero counts are deleted:
// the maps hold only UIDs with calls in flight.
type uidCounter struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.Mutex
		m  map[string]int
	}
}

func newUIDCounter() *uidCounter {
	c := &uidCounter{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]int)
	}
	return c
}

// inc adds one call for uid and returns how many are now in flight.
func (c *uidCounter) inc(uid string) int {
	sh := &c.shards[maphash.String(c.seed, uid)%uint64(len(c.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.m[uid]++
	return sh.m[uid]
}

func (c *uidCounter) dec(uid string) {
	sh := &c.shards[maphash.String(c.seed, uid)%uint64(len(c.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[uid] <= 1 {
		delete(sh.m, uid)
		return
	}
	sh.m[uid]--
}

// replayCache remembers nonces and jtis until the timestamp they came with
// leaves its window: after that a replay fails the window check (403002)
// anyway, so the entry can go. Memory is bounded by calls/s × 2 windows.
type replayCache struct {
	mu       sync.Mutex
	seen     map[string]time.Time
	byExpiry expiryHeap
}

func newReplayCache() *replayCache {
	return &replayCache{seen: make(map[string]time.Time)}
}

// add records key until expiry and reports whether it was new. Entries that
// expired before now are dropped first.
func (c *replayCache) add(key string, expiry, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byExpiry) > 0 && c.byExpiry[0].at.Before(now) {
		e := heap.Pop(&c.byExpiry).(expiryEntry)
		delete(c.seen, e.key)
	}
	if _, dup := c.seen[key]; dup {
		return false
	}
	c.seen[key] = expiry
	heap.Push(&c.byExpiry, expiryEntry{key: key, at: expiry})
	return true
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type expiryEntry struct {
	key string
	at  time.Time
}

// expiryHeap is a min-heap on at.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
