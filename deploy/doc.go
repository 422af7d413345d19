// Package deploy holds no code. It is a separate module so that its tests,
// which check the deployment files in this directory (Dockerfile,
// Kubernetes manifests, compose file, Prometheus rules, Grafana dashboard)
// against the regnotify binary, do not add their heavy dependencies
// (kustomize, Kubernetes API types, the PromQL parser, compose-go) to the
// main module.
//
// The tests derive what they check from the parent module: flag and
// environment names from `regnotify docs --format json`, probe paths from a
// running `regnotify run`, metric names from worker/metrics.go. Run them
// with `cd deploy && go test ./...` (make test does).
package deploy
