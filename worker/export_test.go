package worker

import "github.com/regnotify/regnotify/worker/kafkaread"

// SetOpenReader replaces how w opens partition readers, so that a test can
// make opening fail; the readers it opens are real ones.
func SetOpenReader(w *Worker, open func(kafkaread.Config, int64) (*kafkaread.Reader, error)) {
	w.openReader = open
}
