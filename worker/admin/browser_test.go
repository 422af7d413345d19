package admin_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium-family browser, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// shots saves screenshots: always into the test's artifact directory
// (REGNOTIFY_TEST_ARTIFACTS, default a t.TempDir()), and also into
// REGNOTIFY_SCREENSHOTS when set (how the README's pictures are made:
// REGNOTIFY_SCREENSHOTS=$PWD/deploy/docs/screenshots go test -run Browser ./worker/admin/).
type shots struct {
	t    *testing.T
	dirs []string
}

func newShots(t *testing.T) *shots {
	art := os.Getenv("REGNOTIFY_TEST_ARTIFACTS")
	if art == "" {
		art = t.TempDir()
	} else {
		art = filepath.Join(art, "admin-browser")
	}
	s := &shots{t: t, dirs: []string{art}}
	if d := os.Getenv("REGNOTIFY_SCREENSHOTS"); d != "" {
		s.dirs = append(s.dirs, d)
	}
	for _, d := range s.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %v", s.dirs)
	return s
}

func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	for _, d := range s.dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowser drives the console in headless Chromium: sign in, status
// with both sites, filter dead letters, replay one (dry run, then
// confirm), pause and resume a site; a screenshot of each page.
func TestBrowser(t *testing.T) {
	path := chromium()
	if path == "" {
		t.Skip("no Chromium on PATH (apt-get install -y chromium)")
	}
	e := newEnv(t)
	sh := newShots(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 860))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	// Start the browser and its tab on bctx itself: a tab started under a
	// step's timeout context would close with it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	step(t, ctx, "open the console", chromedp.EmulateViewport(1280, 860), chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	sh.take(ctx, "01-sign-in")
	step(t, ctx, "sign in", chromedp.SendKeys(chromedp.CSS("#token"), opToken), chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#sites")))
	sites := text(t, ctx, "#sites")
	if !strings.Contains(sites, "brand-a") || !strings.Contains(sites, "brand-b") {
		t.Fatalf("status page sites: %q, want brand-a and brand-b", sites)
	}
	sh.take(ctx, "02-status")

	step(t, ctx, "filter dead letters", chromedp.Navigate(e.url+"/dead-letters"), chromedp.WaitVisible(chromedp.CSS("#filters")),
		chromedp.SetValue(chromedp.CSS(`select[name="class"]`), "rejected"),
		chromedp.SendKeys(chromedp.CSS(`input[name="site"]`), "brand-a"),
		chromedp.Click(chromedp.CSS("#apply")))
	// The list is on the page before Apply too: wait for the new page.
	eventually(t, "the filtered list's address", func() bool {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && strings.Contains(loc, "class=rejected")
	})
	step(t, ctx, "see the filtered list", chromedp.WaitVisible(chromedp.CSS(`#dead-letters`)))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "class=rejected") || !strings.Contains(loc, "site=brand-a") {
		t.Fatalf("after Apply the page is %s, want the filters in the query", loc)
	}
	list := text(t, ctx, "#dead-letters tbody")
	for _, f := range e.fx {
		want := f.class == "rejected" && f.site == "brand-a"
		if got := strings.Contains(list, f.key); got != want {
			t.Errorf("filtered list shows %s: %t, want %t", f.key, got, want)
		}
	}
	sh.take(ctx, "03-dead-letters")

	browseReplay(t, ctx, e, sh)
	browsePauseResume(t, ctx, e, sh)
}

// browseReplay opens the first listed record, dry-runs its replay and
// confirms it.
func browseReplay(t *testing.T, ctx context.Context, e *env, sh *shots) {
	step(t, ctx, "open a record", chromedp.Click(chromedp.CSS("#dead-letters a.rec")), chromedp.WaitVisible(chromedp.CSS("#headers")))
	if v := text(t, ctx, "#value"); !strings.Contains(v, "\"eventId\": ") {
		t.Errorf("record value %q, want pretty-printed JSON", v)
	}
	sh.take(ctx, "04-dead-letter")
	step(t, ctx, "dry run", chromedp.Click(chromedp.CSS("#dry-run")), chromedp.WaitVisible(chromedp.CSS("#planned")))
	if s := text(t, ctx, "#summary"); !strings.Contains(s, "1 would be sent") {
		t.Errorf("dry run summary %q, want 1 would be sent", s)
	}
	if n := len(e.kc.ReadAll(t, e.live)) + len(e.kc.ReadAll(t, e.reg)); n != 0 {
		t.Fatalf("the dry run sent %d copies", n)
	}
	sh.take(ctx, "05-replay-dry-run")
	step(t, ctx, "confirm the replay", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#replay-done")))
	if s := text(t, ctx, "#summary"); !strings.Contains(s, "1 sent back") {
		t.Errorf("replay summary %q, want 1 sent back", s)
	}
	if n := len(e.kc.ReadAll(t, e.live)) + len(e.kc.ReadAll(t, e.reg)); n != 1 {
		t.Errorf("original topics hold %d copies after the replay, want 1", n)
	}
	sh.take(ctx, "06-replay-done")

}

// browsePauseResume pauses brand-b from the status page and resumes it.
func browsePauseResume(t *testing.T, ctx context.Context, e *env, sh *shots) {
	step(t, ctx, "ask to pause brand-b", chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.CSS("#pause-brand-b")),
		chromedp.Click(chromedp.CSS("#pause-brand-b")), chromedp.WaitVisible(chromedp.CSS("#confirm-site")))
	sh.take(ctx, "07-pause-confirm")
	step(t, ctx, "confirm the pause", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#resume-brand-b")))
	eventually(t, "brand-b paused on the other worker", func() bool { return e.other.Paused("brand-b") })
	if row := text(t, ctx, `tr[data-site="brand-b"]`); !strings.Contains(row, "paused") {
		t.Errorf("brand-b row %q, want paused", row)
	}
	sh.take(ctx, "08-paused")
	step(t, ctx, "resume brand-b", chromedp.Click(chromedp.CSS("#resume-brand-b")), chromedp.WaitVisible(chromedp.CSS("#confirm-site")),
		chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#pause-brand-b")))
	eventually(t, "brand-b resumed on the other worker", func() bool { return !e.other.Paused("brand-b") })
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, opToken) {
		t.Error("the token appears in the page")
	}
}
