package gigyasim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxAdminBody bounds a PUT /_sim/faults body.
const maxAdminBody = 64 << 10

// serveAdmin serves the admin endpoints. They have no authentication: the
// simulator is a local test tool and must not be exposed where it matters.
//
//	GET /_sim/stats            Stats as JSON
//	GET /_sim/faults           Faults as JSON
//	PUT|POST /_sim/faults      merge a (partial) Faults JSON, answer the result; 400 if invalid
//	POST /_sim/reset           Reset; 204
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sim/stats":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	case "/_sim/faults":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			writeJSON(w, http.StatusOK, s.Faults())
		case http.MethodPut, http.MethodPost:
			f, err := s.mergeFaults(io.LimitReader(r.Body, maxAdminBody))
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, f)
		default:
			allow(w, r, http.MethodGet, http.MethodPut, http.MethodPost)
		}
	case "/_sim/reset":
		if !allow(w, r, http.MethodPost) {
			return
		}
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// mergeFaults decodes a partial Faults over the current ones and sets them.
func (s *Server) mergeFaults(body io.Reader) (Faults, error) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	f := s.Faults()
	if err := json.NewDecoder(body).Decode(&f); err != nil {
		return Faults{}, fmt.Errorf("decode faults: %w", err)
	}
	if err := s.setFaultsLocked(f); err != nil {
		return Faults{}, err
	}
	return s.Faults(), nil
}

// allow answers 405 unless r.Method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
