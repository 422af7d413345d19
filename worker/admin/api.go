package admin

import (
	"context"
	"encoding/json"
	"errors"
	"go.uber.org/zap"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// api wraps an API call: 401 without a valid bearer token, 403 when the
// token's role is not enough.
func (s *Server) api(need Role, h func(http.ResponseWriter, *http.Request, identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.tokens.lookup(bearer(r))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="regnotify"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"a valid bearer token is required"})
			return
		}
		if !id.Role.allows(need) {
			if need == RoleOperator {
				s.audit(id, r.Method+" "+r.URL.Path, nil, "forbidden", nil)
			}
			writeJSON(w, http.StatusForbidden, apiError{"this call needs the " + string(need) + " role"})
			return
		}
		h(w, r, id)
	})
}

func (s *Server) apiStatus(w http.ResponseWriter, _ *http.Request, _ identity) {
	doc := s.opts.Status.Status()
	if doc.Sites == nil {
		doc.Sites = []siteDoc{}
	}
	if doc.Lanes == nil {
		doc.Lanes = []laneDoc{}
	}
	if doc.Partitions == nil {
		doc.Partitions = []partitionDoc{}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) apiDeadLetters(w http.ResponseWriter, r *http.Request, _ identity) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	page, err := s.list(r.Context(), q)
	if err != nil {
		s.log.Warn("dead letters: read failed", zap.Error(err))
		writeJSON(w, http.StatusBadGateway, apiError{"reading the dead-letter topic failed: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) apiReplays(w http.ResponseWriter, r *http.Request, id identity) {
	var req ReplayRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields() // a misspelt filter must not widen a replay to everything
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"replay request: " + err.Error()})
		return
	}
	res, err := s.runReplay(r.Context(), id, req)
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadGateway, struct {
			ReplayResult
			Error string `json:"error"`
		}{res, err.Error()})
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Server) apiPause(pause bool) func(http.ResponseWriter, *http.Request, identity) {
	return func(w http.ResponseWriter, r *http.Request, id identity) {
		site := r.PathValue("name")
		err := s.setPaused(r.Context(), id, site, pause)
		var bad *badRequest
		switch {
		case errors.As(err, &bad):
			writeJSON(w, http.StatusNotFound, apiError{err.Error()})
		case err != nil:
			writeJSON(w, http.StatusBadGateway, apiError{err.Error()})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"site": site, "paused": pause})
		}
	}
}

// setPaused pauses or resumes site for the whole group, auditing the call.
func (s *Server) setPaused(ctx context.Context, id identity, site string, pause bool) error {
	call := "resume"
	if pause {
		call = "pause"
	}
	params := map[string]any{"site": site}
	if !s.knownSite(site) {
		err := &badRequest{"no site named " + strconv.Quote(site)}
		s.audit(id, call, params, "unknown site", nil)
		return err
	}
	if err := s.opts.Control.SetPaused(ctx, site, pause, id.Name); err != nil {
		s.audit(id, call, params, "failed", err)
		return err
	}
	s.audit(id, call, params, "ok", nil)
	return nil
}

func (s *Server) knownSite(name string) bool {
	return slices.ContainsFunc(s.opts.Status.Status().Sites, func(st siteDoc) bool { return st.Name == name })
}

// badRequest is an error in what the caller asked for (400/404), as opposed
// to a failure to do it.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }
