package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	endpointsOnce sync.Once
	endpoints     map[string]string
	endpointsErr  error
)

// workerEndpoints starts `regnotify run` with the base Deployment's
// environment (ConfigMap and env; secrets as files with placeholder values)
// and returns what its HTTP paths answer: path -> body, for paths that are
// not 404. Kafka and Gigya point at closed loopback ports, so nothing
// leaves the machine; the worker stays not ready. That the worker starts at
// all shows the ConfigMap's values are accepted (exit 2 would say which is
// bad). It then gets SIGTERM and must exit 0.
func workerEndpoints(t *testing.T) map[string]string {
	t.Helper()
	bin := regnotifyBin(t)
	b := kustomizeBuild(t, "k8s/base")
	if len(b.deployments) != 1 || len(b.deployments[0].Spec.Template.Spec.Containers) != 1 {
		t.Fatal("want one Deployment with one container in k8s/base")
	}
	c := b.deployments[0].Spec.Template.Spec.Containers[0]
	env := envOf(t, "Deployment", c, b.configMaps)
	endpointsOnce.Do(func() { endpoints, endpointsErr = startWorker(t, bin, env) })
	if endpointsErr != nil {
		t.Fatal(endpointsErr)
	}
	return endpoints
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startWorker(t *testing.T, bin string, podEnv map[string]string) (map[string]string, error) {
	dir, err := os.MkdirTemp("", "regnotify-deploy-run")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	closedPort, err := freePort() // nothing listens there once freePort returns
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	brokers := flagByName(t, "run", "brokers").env
	baseURL := flagByName(t, "run", "gigya-base-url").env
	httpAddr := flagByName(t, "run", "http-addr").env

	// The process environment minus anything the binary reads (a developer's
	// KAFKA_BROKERS must not leak in), plus the pod's.
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, ours := cmdFor(t, "run").byEnv[name]; !ours {
			env = append(env, kv)
		}
	}
	for k, v := range podEnv {
		if strings.HasSuffix(k, "_FILE") {
			// A placeholder that passes base64 validation (a tokens line
			// for the admin tokens file).
			p := filepath.Join(dir, filepath.Base(v))
			content := base64.StdEncoding.EncodeToString([]byte("placeholder-"+k)) + "\n"
			if k == flagByName(t, "run", "admin-tokens-file").env {
				content = "placeholder operator " + content
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				return nil, err
			}
			v = p
		}
		env = append(env, k+"="+v)
	}
	env = append(env,
		fmt.Sprintf("%s=127.0.0.1:%d", brokers, closedPort),
		fmt.Sprintf("%s=https://127.0.0.1:%d", baseURL, closedPort),
		fmt.Sprintf("%s=127.0.0.1:%d", httpAddr, httpPort),
		// The pod's admin port may be taken on the test machine.
		flagByName(t, "run", "admin-addr").env+"=127.0.0.1:0",
	)

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() { _ = cmd.Process.Kill(); <-exited }

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("regnotify run with the base Deployment's environment exited (%v) before serving HTTP; its configuration is rejected:\n%s", err, stderr.String())
		default:
		}
		if code, _, err := get("/healthz"); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("regnotify run did not answer /healthz with 200 within 15s:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	served := map[string]string{}
	for _, path := range candidatePaths(t) {
		code, body, err := get(path)
		if err != nil {
			stop()
			return nil, fmt.Errorf("GET %s: %v", path, err)
		}
		if code != http.StatusNotFound {
			served[path] = body
		}
	}
	// With no Kafka the worker must not claim to be ready.
	if code, _, _ := get("/readyz"); code == http.StatusOK {
		stop()
		return nil, fmt.Errorf("/readyz answers 200 without a reachable Kafka")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		if err != nil {
			return nil, fmt.Errorf("regnotify run after SIGTERM: %v, want exit 0:\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("regnotify run did not exit within 40s of SIGTERM:\n%s", stderr.String())
	}
	return served, nil
}

// candidatePaths are the HTTP paths the manifests, compose file and
// dashboards refer to (a path not served shows up as missing).
func candidatePaths(t *testing.T) []string {
	paths := map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}
	b := kustomizeBuild(t, "k8s/base")
	for _, d := range b.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil {
				paths[c.LivenessProbe.HTTPGet.Path] = true
			}
			if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil {
				paths[c.ReadinessProbe.HTTPGet.Path] = true
			}
			if c.StartupProbe != nil && c.StartupProbe.HTTPGet != nil {
				paths[c.StartupProbe.HTTPGet.Path] = true
			}
		}
	}
	for _, sm := range b.serviceMons {
		for _, ep := range sm.Spec.Endpoints {
			paths[ep.Path] = true
		}
	}
	return keys(paths)
}
