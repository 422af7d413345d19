package worker

import "github.com/segmentio/kafka-go"

// SetOpenReader replaces how w opens partition readers, so that a test can
// make opening fail; the readers it opens are real ones.
func SetOpenReader(w *Worker, open func(kafka.ReaderConfig, int64) (*kafka.Reader, error)) {
	w.openReader = open
}
