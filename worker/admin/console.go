package admin

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/status"
)

//go:embed templates/*.html static/*
var assets embed.FS

const (
	cookieName = "regnotify_session"
	sessionTTL = 12 * time.Hour
)

// session is a signed-in browser. The cookie holds only its random id; the
// token is never stored, only the identity it gave (checked against the
// tokens file on every request, so removing a token ends its sessions).
type session struct {
	id      identity
	csrf    string
	expires time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func (ss *sessions) create(id identity) (string, *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := time.Now()
	for k, s := range ss.m {
		if now.After(s.expires) {
			delete(ss.m, k)
		}
	}
	sid := randomID()
	s := &session{id: id, csrf: randomID(), expires: now.Add(sessionTTL)}
	ss.m[sid] = s
	return sid, s
}

func (ss *sessions) get(sid string) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[sid]
	if !ok || time.Now().After(s.expires) {
		delete(ss.m, sid)
		return nil, false
	}
	return s, true
}

func (ss *sessions) drop(sid string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sid)
}

// pages are the parsed templates, one set per page.
type pages struct{ t map[string]*template.Template }

func loadPages() (*pages, error) {
	funcs := template.FuncMap{
		"stateClass": func(s string) string { return "state-" + s },
		"json":       prettyJSON,
		"since":      func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
		"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range []string{"login", "status", "live", "deadletters", "deadletter", "replay", "confirm", "message"} {
		files := []string{"templates/layout.html", "templates/" + name + ".html"}
		if name == "status" {
			files = append(files, "templates/live.html")
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, files...)
		if err != nil {
			return nil, fmt.Errorf("admin: console template %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

// prettyJSON indents s when it is JSON, else returns it unchanged.
func prettyJSON(s string) string {
	var b bytes.Buffer
	if json.Valid([]byte(s)) && json.Indent(&b, []byte(s), "", "  ") == nil {
		return b.String()
	}
	return s
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	User  string
	Role  string
	CSRF  string
	Op    bool // the viewer may replay and pause
	Flash string
	Error string
	Data  any
}

func (s *Server) render(w http.ResponseWriter, code int, page string, v view) {
	var b bytes.Buffer
	tmpl := "layout.html"
	if page == "live" {
		tmpl = "live"
	}
	if err := s.pages.t[page].ExecuteTemplate(&b, tmpl, v); err != nil {
		s.log.Error("console: render", zap.String("page", page), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) consoleRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.page(RoleViewer, s.logout))
	mux.HandleFunc("GET /{$}", s.page(RoleViewer, s.statusPage))
	mux.HandleFunc("GET /status/live", s.page(RoleViewer, s.livePage))
	mux.HandleFunc("GET /dead-letters", s.page(RoleViewer, s.deadLettersPage))
	mux.HandleFunc("GET /dead-letters/{partition}/{offset}", s.page(RoleViewer, s.deadLetterPage))
	mux.HandleFunc("POST /replay", s.page(RoleOperator, s.replayPage))
	mux.HandleFunc("GET /sites/{name}/{action}", s.page(RoleOperator, s.confirmPage))
	mux.HandleFunc("POST /sites/{name}/{action}", s.page(RoleOperator, s.siteAction))
}

// sameOrigin rejects cross-site form posts by the browser's own signals:
// Sec-Fetch-Site (sent by every current browser) and Origin.
func sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// page wraps a console page: a valid session (else to /login), the role,
// and on POST the same-origin check and the session's CSRF token.
func (s *Server) page(need Role, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sess *session
		if c, err := r.Cookie(cookieName); err == nil {
			if ss, ok := s.sessions.get(c.Value); ok {
				if id, ok := s.tokens.still(ss.id); ok {
					ss.id = id
					sess = ss
				} else {
					s.sessions.drop(c.Value)
				}
			}
		}
		if sess == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/status/live" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) != 1 {
				http.Error(w, "cross-site request refused", http.StatusForbidden)
				return
			}
		}
		if !sess.id.Role.allows(need) {
			s.render(w, http.StatusForbidden, "message", s.view(sess, "Not allowed", "", "", "This needs the operator role; you are signed in as a viewer."))
			return
		}
		h(w, r, sess)
	}
}

func (s *Server) view(sess *session, title, nav string, data any, errMsg string) view {
	v := view{Title: title, Nav: nav, Data: data, Error: errMsg}
	if sess != nil {
		v.User, v.Role, v.CSRF, v.Op = sess.id.Name, string(sess.id.Role), sess.csrf, sess.id.Role == RoleOperator
	}
	return v
}

func (s *Server) loginPage(w http.ResponseWriter, _ *http.Request) {
	s.render(w, http.StatusOK, "login", view{Title: "Sign in"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	id, ok := s.tokens.lookup(r.PostFormValue("token"))
	if !ok {
		s.render(w, http.StatusUnauthorized, "login", view{Title: "Sign in", Error: "That token is not valid."})
		return
	}
	sid, _ := s.sessions.create(id)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(sessionTTL / time.Second)})
	s.log.Info("console sign-in", zap.String("token", id.Name), zap.String("role", string(id.Role)))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// statusData is the status page's content.
type statusData struct {
	Doc        status.Doc
	Rates, Lag Plot
	Now        string
}

func (s *Server) statusData() statusData {
	d := s.opts.Status.Status()
	rates, lag := s.samples.plots()
	return statusData{Doc: d, Rates: rates, Lag: lag, Now: time.Now().UTC().Format("15:04:05 UTC")}
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request, sess *session) {
	v := s.view(sess, "Status", "status", s.statusData(), "")
	switch q := r.URL.Query(); {
	case q.Get("paused") != "" && s.knownSite(q.Get("paused")):
		v.Flash = "Site " + q.Get("paused") + " paused in every worker of the group."
	case q.Get("resumed") != "" && s.knownSite(q.Get("resumed")):
		v.Flash = "Site " + q.Get("resumed") + " resumed in every worker of the group."
	}
	s.render(w, http.StatusOK, "status", v)
}

func (s *Server) livePage(w http.ResponseWriter, _ *http.Request, sess *session) {
	s.render(w, http.StatusOK, "live", s.view(sess, "", "", s.statusData(), ""))
}

// dlData is the dead-letter list page's content.
type dlData struct {
	Q       map[string]string
	Classes []string
	Page    Page
	Next    string // query string of the next page
	Filter  url.Values
}

func (s *Server) deadLettersPage(w http.ResponseWriter, r *http.Request, sess *session) {
	vals := r.URL.Query()
	d := dlData{Q: map[string]string{}, Classes: []string{"invalid_event", "rejected", "retries_exhausted"}, Filter: url.Values{}}
	for _, k := range []string{"site", "class", "code", "topic", "since", "until", "q"} {
		if v := vals.Get(k); v != "" {
			d.Q[k] = v
			d.Filter.Set(k, v)
		}
	}
	q, err := parseQuery(vals)
	if err != nil {
		s.render(w, http.StatusBadRequest, "deadletters", s.view(sess, "Dead letters", "dl", d, err.Error()))
		return
	}
	if q.Limit == defaultLimit {
		q.Limit = 25
	}
	page, err := s.list(r.Context(), q)
	if err != nil {
		s.render(w, http.StatusBadGateway, "deadletters", s.view(sess, "Dead letters", "dl", d, "Reading the dead-letter topic failed: "+err.Error()))
		return
	}
	d.Page = page
	if page.Cursor != "" {
		nv := url.Values{}
		for k, v := range d.Filter {
			nv[k] = v
		}
		nv.Set("cursor", page.Cursor)
		d.Next = nv.Encode()
	}
	s.render(w, http.StatusOK, "deadletters", s.view(sess, "Dead letters", "dl", d, ""))
}

func (s *Server) deadLetterPage(w http.ResponseWriter, r *http.Request, sess *session) {
	p, err1 := strconv.Atoi(r.PathValue("partition"))
	o, err2 := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err1 != nil || err2 != nil {
		http.NotFound(w, r)
		return
	}
	msgs, err := s.readRange(r.Context(), p, o, o+1)
	if err != nil || len(msgs) == 0 {
		msg := "No dead letter at that offset."
		if err != nil {
			msg = "Reading the dead-letter topic failed: " + err.Error()
		}
		s.render(w, http.StatusNotFound, "message", s.view(sess, "Dead letter", "dl", nil, msg))
		return
	}
	rec := toRecord(msgs[0])
	replayed := s.opts.Control.Replayed(s.opts.DLQTopic, p, o)
	s.render(w, http.StatusOK, "deadletter", s.view(sess, fmt.Sprintf("Dead letter %d/%d", p, o), "dl", struct {
		R        Record
		Replayed bool
	}{rec, replayed}, ""))
}

// replayPage runs the console's replay: a dry run first (the default), then
// the confirmed replay of exactly the offsets the dry run listed.
func (s *Server) replayPage(w http.ResponseWriter, r *http.Request, sess *session) {
	f := r.PostForm
	req := ReplayRequest{DryRun: f.Get("confirm") != "yes", Force: f.Get("force") == "on"}
	for _, k := range []struct {
		name string
		dst  *Strings
	}{{"class", &req.Class}, {"code", &req.Code}, {"topic", &req.Topic}, {"site", &req.Site}} {
		if v := f.Get(k.name); v != "" {
			*k.dst = Strings{v}
		}
	}
	req.Since, req.Until = f.Get("since"), f.Get("until")
	offs, err := parseOffsets(f["offset"])
	if err == nil {
		req.Offsets = offs
	}
	if err == nil && !req.DryRun && len(req.Offsets) == 0 {
		err = errors.New("nothing to replay")
	}
	var res ReplayResult
	if err == nil {
		res, err = s.runReplay(r.Context(), sess.id, req)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.render(w, http.StatusOK, "replay", s.view(sess, "Replay", "dl", struct {
		Req    ReplayRequest
		Res    ReplayResult
		Filter map[string]string
	}{req, res, map[string]string{"class": f.Get("class"), "code": f.Get("code"), "topic": f.Get("topic"), "site": f.Get("site"), "since": req.Since, "until": req.Until}}, msg))
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, sess *session) {
	name, action := r.PathValue("name"), r.PathValue("action")
	if (action != "pause" && action != "resume") || !s.knownSite(name) {
		http.NotFound(w, r)
		return
	}
	s.render(w, http.StatusOK, "confirm", s.view(sess, "Confirm "+action, "status", struct{ Site, Action string }{name, action}, ""))
}

func (s *Server) siteAction(w http.ResponseWriter, r *http.Request, sess *session) {
	name, action := r.PathValue("name"), r.PathValue("action")
	if action != "pause" && action != "resume" {
		http.NotFound(w, r)
		return
	}
	if err := s.setPaused(r.Context(), sess.id, name, action == "pause"); err != nil {
		s.render(w, http.StatusBadGateway, "message", s.view(sess, "Not done", "status", nil, err.Error()))
		return
	}
	http.Redirect(w, r, "/?"+url.Values{action + "d": {name}}.Encode(), http.StatusSeeOther)
}
