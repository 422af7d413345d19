package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// buildProfiling compiles ./cmd/regnotify into dir with one more file in
// package main, added through -overlay (the source tree is untouched): it
// serves net/http/pprof on the address in REGNOTIFY_BENCH_PPROF. The binary
// users run has no pprof; this one is for -pprof only.
func buildProfiling(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", "github.com/regnotify/regnotify/cmd/regnotify").Output()
	if err != nil {
		return "", fmt.Errorf("locate cmd/regnotify: %w", err)
	}
	src := filepath.Join(dir, "pprof_overlay.go")
	if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(strings.TrimSpace(string(out)), "zz_bench_pprof.go"): src,
	}})
	if err != nil {
		return "", err
	}
	ofile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ofile, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "regnotify-pprof")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", ofile, "-o", bin, "github.com/regnotify/regnotify/cmd/regnotify")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build regnotify with pprof: %w\n%s", err, out)
	}
	return bin, nil
}

const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("REGNOTIFY_BENCH_PPROF"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

// profile fetches a CPU profile of the child over the next d, and then its
// allocation profile, into dir/<name>.cpu.pprof and dir/<name>.allocs.pprof.
func profile(ctx context.Context, addr, dir, name string, d time.Duration) error {
	get := func(path, file string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	secs := max(1, int(d.Seconds()))
	if err := get("/debug/pprof/profile?seconds="+strconv.Itoa(secs), name+".cpu.pprof"); err != nil {
		return err
	}
	return get("/debug/pprof/allocs", name+".allocs.pprof")
}
