// Package status is the shape of a worker's state as the admin API shows it
// (contract: "Admin API and console", GET /api/v1/status): plain types with
// their JSON names, and nothing else.
//
// It exists on its own, with no imports of the project, so that the worker
// can fill a Doc and the admin server can serve it without either importing
// the other (the admin server imports worker/replay, which imports worker).
// It is not a metrics package: the numbers are a snapshot taken on demand.
package status

// Doc is the answer of GET /api/v1/status.
type Doc struct {
	Sites            []Site           `json:"sites"`
	Lanes            []Lane           `json:"lanes"`
	Partitions       []Partition      `json:"partitions"`
	DeadLetterWriter DeadLetterWriter `json:"deadLetterWriter"`
	// Events counts events since the worker started, by outcome
	// (notified, already_done, dlq_invalid, dlq_rejected, dlq_exhausted);
	// beyond the contract, for the console's rates. Cumulative: the admin
	// server turns it into events per second.
	Events map[string]int64 `json:"events,omitempty"`
}

// Site is one site's state. State is ok, outage, misconfigured or paused.
type Site struct {
	Name      string  `json:"name"`
	State     string  `json:"state"`
	RateLimit float64 `json:"rateLimit"` // this worker's current calls/s for the site
	Inflight  int     `json:"inflight"`
}

// Lane is one lane (live or bulk) and how many slots its events hold.
type Lane struct {
	Name     string `json:"name"`
	Inflight int    `json:"inflight"`
	Limit    int    `json:"limit"` // most slots the lane may hold; 0 = no own limit
}

// Partition is one consumed partition: the group's committed offset and the
// records behind the partition's end.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Lag       int64  `json:"lag"`
	Committed int64  `json:"committed"`
}

// DeadLetterWriter says whether dead-letter writes are failing (the worker
// then stops committing, and lag grows).
type DeadLetterWriter struct {
	Failing bool `json:"failing"`
}

// Lag is the sum of the partitions' lag.
func (d Doc) Lag() int64 {
	var n int64
	for _, p := range d.Partitions {
		n += p.Lag
	}
	return n
}
