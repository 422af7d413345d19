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
//	GET /_sim/stats?site=a     SiteStats of site a
//	GET /_sim/sites            the sites (no secrets)
//	GET /_sim/faults           Faults as JSON
//	PUT|POST /_sim/faults      merge a (partial) Faults JSON, answer the result; 400 if invalid
//	GET|PUT|POST /_sim/faults?site=a  the same with site a's SiteFaults
//	GET|PUT|POST /_sim/quota?site=a   site a's Quota (PUT refills the bucket)
//	POST /_sim/reset           Reset; 204
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	site, hasSite := r.URL.Query()["site"]
	if hasSite {
		if len(site) != 1 || s.byName[site[0]] == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no site %q", strings.Join(site, ","))})
			return
		}
		s.serveSiteAdmin(w, r, site[0])
		return
	}
	switch r.URL.Path {
	case "/_sim/stats":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	case "/_sim/sites":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		writeJSON(w, http.StatusOK, s.SiteInfos())
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

// serveSiteAdmin serves /_sim/stats, /_sim/faults and /_sim/quota for one
// existing site.
func (s *Server) serveSiteAdmin(w http.ResponseWriter, r *http.Request, name string) {
	switch r.URL.Path {
	case "/_sim/stats":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		st, _ := s.SiteStats(name)
		writeJSON(w, http.StatusOK, st)
	case "/_sim/faults", "/_sim/quota":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPut, http.MethodPost:
			if err := s.mergeSite(name, r.URL.Path, io.LimitReader(r.Body, maxAdminBody)); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		default:
			allow(w, r, http.MethodGet, http.MethodPut, http.MethodPost)
			return
		}
		if r.URL.Path == "/_sim/quota" {
			writeJSON(w, http.StatusOK, s.byName[name].limiter.Load().q)
			return
		}
		f, _ := s.SiteFaults(name)
		writeJSON(w, http.StatusOK, f)
	default:
		http.NotFound(w, r)
	}
}

// mergeSite decodes a partial SiteFaults or Quota over the site's current
// one and sets it. Unknown fields are refused.
func (s *Server) mergeSite(name, path string, body io.Reader) error {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if path == "/_sim/quota" {
		q := s.byName[name].limiter.Load().q
		if err := dec.Decode(&q); err != nil {
			return fmt.Errorf("decode quota: %w", err)
		}
		return s.SetSiteQuota(name, q)
	}
	f, _ := s.SiteFaults(name)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("decode site faults: %w", err)
	}
	return s.setSiteFaultsLocked(name, f)
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
