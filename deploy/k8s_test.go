package deploy

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Kustomizations that must build, and what each must contain.
var kustomizations = []struct {
	dir   string
	kinds []string
}{
	{"k8s/base", []string{"Deployment", "ConfigMap", "Service", "ServiceAccount", "PodDisruptionBudget", "ServiceMonitor", "ScaledObject", "TriggerAuthentication"}},
	{"k8s/overlays/production", []string{"Deployment", "ConfigMap", "Service", "ServiceAccount", "PodDisruptionBudget", "ServiceMonitor", "ScaledObject", "TriggerAuthentication"}},
	{"k8s/jobs/replay", []string{"Job"}},
	{"k8s/jobs/bulk-link", []string{"Job"}},
}

// Minimal strict models of the custom resources we use: every field we
// write must be here (a typo fails to decode), the required ones are checked.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval int32  `json:"pollingInterval"`
		CooldownPeriod  int32  `json:"cooldownPeriod"`
		Advanced        struct {
			HorizontalPodAutoscalerConfig struct {
				Behavior struct {
					ScaleDown struct {
						StabilizationWindowSeconds int32 `json:"stabilizationWindowSeconds"`
						Policies                   []struct {
							Type          string `json:"type"`
							Value         int32  `json:"value"`
							PeriodSeconds int32  `json:"periodSeconds"`
						} `json:"policies"`
					} `json:"scaleDown"`
				} `json:"behavior"`
			} `json:"horizontalPodAutoscalerConfig"`
		} `json:"advanced"`
		Triggers []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef struct {
				Name string `json:"name"`
			} `json:"authenticationRef"`
		} `json:"triggers"`
	} `json:"spec"`
}

type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
		Env []struct {
			Parameter     string `json:"parameter"`
			Name          string `json:"name"`
			ContainerName string `json:"containerName"`
		} `json:"env"`
	} `json:"spec"`
}

// built is one kustomization's output, decoded.
type built struct {
	dir            string
	deployments    []*appsv1.Deployment
	jobs           []*batchv1.Job
	configMaps     map[string]*corev1.ConfigMap
	services       []*corev1.Service
	pdbs           []*policyv1.PodDisruptionBudget
	serviceMons    []*serviceMonitor
	scaledObjects  []*scaledObject
	triggerAuths   map[string]*triggerAuthentication
	serviceAccount []*corev1.ServiceAccount
	kinds          map[string]int
}

// kustomizeBuild runs kustomize (in process, krusty) on dir and decodes every
// object strictly into its type.
func kustomizeBuild(t *testing.T, dir string) *built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := k.Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := &built{dir: dir, configMaps: map[string]*corev1.ConfigMap{}, triggerAuths: map[string]*triggerAuthentication{}, kinds: map[string]int{}}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s/%s as YAML: %v", dir, r.GetKind(), r.GetName(), err)
		}
		gvk := r.GetApiVersion() + " " + r.GetKind()
		name := r.GetKind() + "/" + r.GetName()
		if name == r.GetKind()+"/" {
			gen, _ := r.GetString("metadata.generateName")
			name = r.GetKind() + "/" + gen
		}
		b.kinds[r.GetKind()]++
		var obj any
		switch gvk {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			b.deployments, obj = append(b.deployments, o), o
		case "batch/v1 Job":
			o := &batchv1.Job{}
			b.jobs, obj = append(b.jobs, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			b.configMaps[r.GetName()], obj = o, o
		case "v1 Service":
			o := &corev1.Service{}
			b.services, obj = append(b.services, o), o
		case "v1 ServiceAccount":
			o := &corev1.ServiceAccount{}
			b.serviceAccount, obj = append(b.serviceAccount, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			b.pdbs, obj = append(b.pdbs, o), o
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &serviceMonitor{}
			b.serviceMons, obj = append(b.serviceMons, o), o
		case "keda.sh/v1alpha1 ScaledObject":
			o := &scaledObject{}
			b.scaledObjects, obj = append(b.scaledObjects, o), o
		case "keda.sh/v1alpha1 TriggerAuthentication":
			o := &triggerAuthentication{}
			b.triggerAuths[r.GetName()], obj = o, o
		default:
			t.Errorf("%s: %s: unexpected kind %s; add it to the test", dir, name, gvk)
			continue
		}
		if err := yaml.UnmarshalStrict(y, obj); err != nil {
			t.Errorf("%s: %s does not decode strictly as %s: %v", dir, name, gvk, err)
		}
	}
	return b
}

func TestKustomizeBuildsAndDecodesStrictly(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k.dir, func(t *testing.T) {
			b := kustomizeBuild(t, k.dir)
			for _, kind := range k.kinds {
				if b.kinds[kind] == 0 {
					t.Errorf("%s builds no %s; got %v", k.dir, kind, b.kinds)
				}
			}
		})
	}
}

// podTemplates are the pod templates of a build, named for messages.
func (b *built) podTemplates() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, d := range b.deployments {
		out["Deployment/"+d.Name] = &d.Spec.Template
	}
	for _, j := range b.jobs {
		out["Job/"+j.GenerateName+j.Name] = &j.Spec.Template
	}
	return out
}

// containerCommand is the regnotify command a container runs: its first
// arg, else the image's CMD (Dockerfile).
func containerCommand(t *testing.T, c corev1.Container) string {
	t.Helper()
	if len(c.Command) > 0 {
		t.Errorf("container %s sets command %v: leave the ENTRYPOINT (regnotify) alone and use args", c.Name, c.Command)
	}
	if len(c.Args) > 0 {
		return c.Args[0]
	}
	df := parseDockerfile(t)
	if len(df.cmd) == 0 {
		t.Fatalf("container %s has no args and the Dockerfile no CMD", c.Name)
	}
	return df.cmd[0]
}

func TestPodsAreLockedDown(t *testing.T) {
	for _, k := range kustomizations {
		b := kustomizeBuild(t, k.dir)
		for name, pt := range b.podTemplates() {
			ps := pt.Spec
			psc := ps.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Errorf("%s %s: want securityContext.runAsNonRoot: true", k.dir, name)
			}
			if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
				t.Errorf("%s %s: want a non-zero securityContext.runAsUser", k.dir, name)
			}
			if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
				t.Errorf("%s %s: want automountServiceAccountToken: false", k.dir, name)
			}
			for _, c := range ps.Containers {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("%s %s/%s: no securityContext", k.dir, name, c.Name)
					continue
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("%s %s/%s: want readOnlyRootFilesystem: true", k.dir, name, c.Name)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("%s %s/%s: want allowPrivilegeEscalation: false", k.dir, name, c.Name)
				case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Errorf("%s %s/%s: want capabilities drop [ALL], add none", k.dir, name, c.Name)
				}
				seccomp := (psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault) ||
					(sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
				if !seccomp {
					t.Errorf("%s %s/%s: want seccompProfile RuntimeDefault", k.dir, name, c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s %s/%s: want cpu and memory requests and a memory limit; got %v", k.dir, name, c.Name, c.Resources)
				}
				if !strings.HasPrefix(c.Image, "registry.example.com/regnotify/regnotify:") {
					t.Errorf("%s %s/%s: image %q: want the kustomize images: entry applied", k.dir, name, c.Name, c.Image)
				}
			}
		}
	}
}

// envOf is a container's environment as the pod sees it: its ConfigMap
// envFrom (looked up in cms) and its env.
func envOf(t *testing.T, where string, c corev1.Container, cms map[string]*corev1.ConfigMap) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s: envFrom other than a ConfigMap: %+v", where, ef)
			continue
		}
		cm, ok := cms[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: envFrom ConfigMap %q is not built", where, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("%s: env %s uses valueFrom; secrets are mounted as files (*_FILE)", where, e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

// secretExampleKeys are the keys of deploy/k8s/base/secret.example.yaml.
func secretExample(t *testing.T) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(readFile(t, "k8s/base/secret.example.yaml"), &s); err != nil {
		t.Fatalf("secret.example.yaml does not decode strictly as a v1 Secret: %v", err)
	}
	if s.Kind != "Secret" || s.APIVersion != "v1" || len(s.StringData) == 0 {
		t.Fatalf("secret.example.yaml: want a v1 Secret with stringData; got %s %s", s.APIVersion, s.Kind)
	}
	for k, v := range s.StringData {
		if !strings.Contains(v, "REPLACE_ME") {
			t.Errorf("secret.example.yaml: %s = %q: want a placeholder containing REPLACE_ME", k, v)
		}
	}
	return &s
}

// TestEnvNamesAreFlags checks every environment variable the manifests set
// against the flags of the command the container runs (regnotify docs).
func TestEnvNamesAreFlags(t *testing.T) {
	base := kustomizeBuild(t, "k8s/base")
	secret := secretExample(t)
	run := cmdFor(t, "run")
	for _, k := range kustomizations {
		b := kustomizeBuild(t, k.dir)
		cms := b.configMaps
		if len(cms) == 0 {
			cms = base.configMaps // the Jobs reuse the base's ConfigMap
		}
		for name, pt := range b.podTemplates() {
			secretMounts := map[string]string{} // mount path -> secret name
			for _, c := range pt.Spec.Containers {
				for _, vm := range c.VolumeMounts {
					for _, v := range pt.Spec.Volumes {
						if v.Name == vm.Name && v.Secret != nil {
							secretMounts[vm.MountPath] = v.Secret.SecretName
						}
					}
				}
			}
			for _, c := range pt.Spec.Containers {
				where := fmt.Sprintf("%s %s/%s", k.dir, name, c.Name)
				cmd := cmdFor(t, containerCommand(t, c))
				// The shared ConfigMap is the worker's: every key a run variable.
				for _, ef := range c.EnvFrom {
					if cm := cms[ef.ConfigMapRef.Name]; cm != nil {
						for key, val := range cm.Data {
							f, ok := run.byEnv[key]
							if !ok {
								t.Errorf("%s: ConfigMap %s key %s is not a variable of regnotify run", where, cm.Name, key)
								continue
							}
							if len(f.enum) > 0 && !slices.Contains(f.enum, val) {
								t.Errorf("%s: ConfigMap %s: %s=%q, want one of %q", where, cm.Name, key, val, f.enum)
							}
							// A Job's command shares the Kafka flags with run: it
							// must read the same KAFKA_* settings.
							if cmd.name != "run" && strings.HasPrefix(key, "KAFKA_") {
								if cmd.noFlag {
									continue // logged below
								}
								if _, ok := cmd.byEnv[key]; !ok && slices.Contains(kafkaConnectionEnvs(t), key) {
									t.Errorf("%s: regnotify %s does not read %s (from ConfigMap %s)", where, cmd.name, key, cm.Name)
								}
							}
						}
					}
				}
				// Joining the worker's group with another subscription would
				// rebalance the workers (contract, replay).
				if groupEnv := flagByName(t, "run", "group").env; cmd.name != "run" {
					if _, ok := cmd.byEnv[groupEnv]; ok {
						t.Errorf("%s: regnotify %s reads %s, the worker's group", where, cmd.name, groupEnv)
					}
				}
				if cmd.noFlag {
					// Once a stub being written; every command has flags now,
					// and one that lost them must not turn this check off.
					t.Errorf("%s: regnotify %s has no flags: its variables cannot be checked", where, cmd.name)
				}
				for _, e := range c.Env {
					if _, ok := cmd.byEnv[e.Name]; !ok && !cmd.noFlag {
						t.Errorf("%s: env %s is not a variable of regnotify %s", where, e.Name, cmd.name)
					}
					if !strings.HasSuffix(e.Name, "_FILE") {
						continue
					}
					dir, key := filepath.Split(e.Value)
					secretName, ok := secretMounts[filepath.Clean(dir)]
					if !ok {
						t.Errorf("%s: %s=%s is not in a mounted Secret", where, e.Name, e.Value)
						continue
					}
					if secretName != secret.Name {
						t.Errorf("%s: %s is in Secret %s, want %s (secret.example.yaml)", where, e.Name, secretName, secret.Name)
					}
					if _, ok := secret.StringData[key]; !ok {
						t.Errorf("%s: %s reads key %q, which secret.example.yaml lacks (has %v)", where, e.Name, key, keys(secret.StringData))
					}
				}
			}
		}
	}
}

// kafkaConnectionEnvs are the variables of the Kafka connection flags
// (--brokers, --kafka-*) of run, which replay and bulk-link share.
func kafkaConnectionEnvs(t *testing.T) []string {
	var out []string
	for _, f := range cmdFor(t, "run").flags {
		if f.name == "brokers" || strings.HasPrefix(f.name, "kafka-") {
			out = append(out, f.env)
		}
	}
	return out
}

// TestJobArgsAreFlags checks the flags in the Job templates' args.
func TestJobArgsAreFlags(t *testing.T) {
	for _, dir := range []string{"k8s/jobs/replay", "k8s/jobs/bulk-link"} {
		b := kustomizeBuild(t, dir)
		for name, pt := range b.podTemplates() {
			for _, c := range pt.Spec.Containers {
				cmd := cmdFor(t, containerCommand(t, c))
				if cmd.noFlag {
					t.Errorf("%s %s: regnotify %s has no flags: args %v cannot be checked", dir, name, cmd.name, c.Args)
					continue
				}
				for _, a := range c.Args[1:] {
					if !strings.HasPrefix(a, "--") {
						continue
					}
					flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
					if _, ok := cmd.flags[flag]; !ok {
						t.Errorf("%s %s: %s is not a flag of regnotify %s", dir, name, a, cmd.name)
					}
				}
			}
		}
	}
}

// httpPort is the port of the worker's HTTP server in env (or the flag's
// default).
func httpPort(t *testing.T, env map[string]string) int {
	t.Helper()
	f := flagByName(t, "run", "http-addr")
	addr, ok := env[f.env]
	if !ok {
		addr = f.def
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", f.env, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s=%q: port: %v", f.env, addr, err)
	}
	return port
}

// TestWorkerDeployment checks the Deployment against the binary: ports,
// probe paths (served by a running worker), shutdown timeout, and the
// Service, PDB, ServiceMonitor and ScaledObject that point at it.
func TestWorkerDeployment(t *testing.T) {
	served := workerEndpoints(t)
	for _, dir := range []string{"k8s/base", "k8s/overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			b := kustomizeBuild(t, dir)
			if len(b.deployments) != 1 {
				t.Fatalf("want one Deployment, got %d", len(b.deployments))
			}
			d := b.deployments[0]
			pod := d.Spec.Template
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
			}
			c := pod.Spec.Containers[0]
			if cmd := containerCommand(t, c); cmd != "run" {
				t.Errorf("Deployment runs %q, want run", cmd)
			}
			env := envOf(t, "Deployment", c, b.configMaps)

			port := httpPort(t, env)
			var named string
			for _, p := range c.Ports {
				if p.ContainerPort == int32(port) {
					named = p.Name
				}
			}
			if named == "" {
				t.Fatalf("no containerPort %d (REGNOTIFY_HTTP_ADDR); ports %v", port, c.Ports)
			}
			probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
			wantPath := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}
			for kind, p := range probes {
				if p == nil {
					if kind != "startup" {
						t.Errorf("no %s probe", kind)
					}
					continue
				}
				if p.HTTPGet == nil {
					t.Errorf("%s probe is not httpGet", kind)
					continue
				}
				if p.HTTPGet.Path != wantPath[kind] {
					t.Errorf("%s probe path %s, want %s", kind, p.HTTPGet.Path, wantPath[kind])
				}
				if _, ok := served[p.HTTPGet.Path]; !ok {
					t.Errorf("%s probe path %s is not served by regnotify run (served: %v)", kind, p.HTTPGet.Path, keys(served))
				}
				if p.HTTPGet.Port.String() != named && p.HTTPGet.Port.IntValue() != port {
					t.Errorf("%s probe port %s, want %s or %d", kind, p.HTTPGet.Port.String(), named, port)
				}
			}

			f := flagByName(t, "run", "shutdown-timeout")
			st, ok := env[f.env]
			if !ok {
				st = f.def
			}
			shutdown, err := time.ParseDuration(st)
			if err != nil {
				t.Fatalf("%s=%q: %v", f.env, st, err)
			}
			if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown+5*time.Second {
				t.Errorf("terminationGracePeriodSeconds %v: want above %s (%v) plus a margin of 5s", g, f.env, shutdown)
			}

			podLabels := labels(pod.Labels)
			if sel := d.Spec.Selector.MatchLabels; !podLabels.has(sel) {
				t.Errorf("Deployment selector %v does not match its pod labels %v", sel, pod.Labels)
			}
			if len(b.services) != 1 || !podLabels.has(b.services[0].Spec.Selector) {
				t.Fatalf("want one Service selecting the pods")
			}
			svc := b.services[0]
			var svcPort string
			for _, p := range svc.Spec.Ports {
				if p.TargetPort.String() == named || p.TargetPort.IntValue() == port {
					svcPort = p.Name
				}
			}
			if svcPort == "" {
				t.Errorf("Service %s has no port to %s/%d", svc.Name, named, port)
			}
			if len(b.pdbs) != 1 || !podLabels.has(b.pdbs[0].Spec.Selector.MatchLabels) {
				t.Errorf("want one PodDisruptionBudget selecting the pods")
			}
			if len(b.serviceMons) != 1 {
				t.Fatalf("want one ServiceMonitor")
			}
			sm := b.serviceMons[0]
			if !labels(svc.Labels).has(sm.Spec.Selector.MatchLabels) || len(sm.Spec.Selector.MatchLabels) == 0 {
				t.Errorf("ServiceMonitor selector %v does not match Service labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
			}
			if len(sm.Spec.Endpoints) == 0 {
				t.Fatal("ServiceMonitor has no endpoints")
			}
			for _, ep := range sm.Spec.Endpoints {
				if ep.Port != svcPort {
					t.Errorf("ServiceMonitor port %q, want the Service port %q", ep.Port, svcPort)
				}
				if _, ok := served[ep.Path]; !ok || !strings.Contains(served[ep.Path], "regnotify_") {
					t.Errorf("ServiceMonitor path %q does not serve regnotify metrics", ep.Path)
				}
			}

			checkScaledObject(t, b, d, c, env)
		})
	}
}

type labels map[string]string

// has reports whether l carries every label of sel (and sel is not empty).
func (l labels) has(sel map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if l[k] != v {
			return false
		}
	}
	return true
}

func checkScaledObject(t *testing.T, b *built, d *appsv1.Deployment, c corev1.Container, env map[string]string) {
	t.Helper()
	if len(b.scaledObjects) != 1 {
		t.Fatalf("want one ScaledObject, got %d", len(b.scaledObjects))
	}
	so := b.scaledObjects[0]
	if so.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("ScaledObject targets %q, want Deployment %q", so.Spec.ScaleTargetRef.Name, d.Name)
	}
	partitions, err := strconv.Atoi(so.Annotations["regnotify.io/topic-partitions"])
	if err != nil {
		t.Fatalf("ScaledObject annotation regnotify.io/topic-partitions: %v", err)
	}
	if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil {
		t.Fatal("ScaledObject: want minReplicaCount and maxReplicaCount")
	}
	if mx := int(*so.Spec.MaxReplicaCount); mx > partitions || mx < int(*so.Spec.MinReplicaCount) {
		t.Errorf("ScaledObject maxReplicaCount %d: want minReplicaCount (%d) <= it <= partitions (%d)", mx, *so.Spec.MinReplicaCount, partitions)
	}
	if d.Spec.Replicas != nil && (*d.Spec.Replicas > *so.Spec.MaxReplicaCount) {
		t.Errorf("Deployment replicas %d above maxReplicaCount %d", *d.Spec.Replicas, *so.Spec.MaxReplicaCount)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("want one kafka trigger, got %+v", so.Spec.Triggers)
	}
	tr := so.Spec.Triggers[0]
	// KEDA must watch the group and brokers the worker uses: it reads them
	// from the worker container's variables of --brokers and --group.
	for param, flag := range map[string]string{"bootstrapServersFromEnv": "brokers", "consumerGroupFromEnv": "group"} {
		f := flagByName(t, "run", flag)
		if got := tr.Metadata[param]; got != f.env {
			t.Errorf("kafka trigger %s = %q, want %s (the variable of run --%s)", param, got, f.env, flag)
		}
		if _, ok := env[f.env]; !ok {
			t.Errorf("kafka trigger reads %s, which the container does not set", f.env)
		}
	}
	ta, ok := b.triggerAuths[tr.AuthenticationRef.Name]
	if !ok {
		t.Fatalf("kafka trigger authenticationRef %q is not built", tr.AuthenticationRef.Name)
	}
	secret := secretExample(t)
	for _, ref := range ta.Spec.SecretTargetRef {
		if ref.Name != secret.Name {
			t.Errorf("TriggerAuthentication reads Secret %q, want %q", ref.Name, secret.Name)
		}
		if _, ok := secret.StringData[ref.Key]; !ok {
			t.Errorf("TriggerAuthentication reads key %q, which secret.example.yaml lacks", ref.Key)
		}
	}
	for _, e := range ta.Spec.Env {
		if e.ContainerName != c.Name {
			t.Errorf("TriggerAuthentication env from container %q, want %q", e.ContainerName, c.Name)
		}
		if _, ok := env[e.Name]; !ok {
			t.Errorf("TriggerAuthentication reads %s, which the container does not set", e.Name)
		}
	}
}

func TestProductionOverlay(t *testing.T) {
	b := kustomizeBuild(t, "k8s/overlays/production")
	cm := b.configMaps["regnotify-config"]
	if cm == nil {
		t.Fatal("no ConfigMap regnotify-config")
	}
	f := flagByName(t, "run", "gigya-data-center")
	if got := cm.Data[f.env]; got != "eu1.gigya.com" {
		t.Errorf("production %s = %q, want eu1.gigya.com", f.env, got)
	}
	for _, d := range b.deployments {
		if d.Namespace != "regnotify" {
			t.Errorf("Deployment namespace %q, want regnotify", d.Namespace)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if !strings.HasSuffix(c.Image, ":1.0.0") {
				t.Errorf("production image %q, want the pinned tag 1.0.0", c.Image)
			}
		}
	}
}

// TestAdminPortStaysInsideTheCluster checks the admin API's wiring: the
// worker listens on REGNOTIFY_ADMIN_ADDR with a tokens file from the
// mounted Secret (a non-loopback address without one is refused), the port
// is a containerPort and a port of the ClusterIP Service, and nothing
// exposes it outside the cluster (no NodePort, LoadBalancer or Ingress).
func TestAdminPortStaysInsideTheCluster(t *testing.T) {
	addrFlag, tokensFlag := flagByName(t, "run", "admin-addr"), flagByName(t, "run", "admin-tokens-file")
	for _, dir := range []string{"k8s/base", "k8s/overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			b := kustomizeBuild(t, dir)
			if len(b.deployments) != 1 || len(b.services) != 1 {
				t.Fatalf("want one Deployment and one Service, got %d and %d", len(b.deployments), len(b.services))
			}
			if n := b.kinds["Ingress"]; n > 0 {
				t.Errorf("%d Ingress objects: the admin port must stay inside the cluster", n)
			}
			pod := b.deployments[0].Spec.Template
			c := pod.Spec.Containers[0]
			env := envOf(t, "Deployment", c, b.configMaps)
			addr := env[addrFlag.env]
			if addr == "" {
				t.Fatalf("%s is not set: the admin API is off", addrFlag.env)
			}
			host, p, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%s=%q: %v", addrFlag.env, addr, err)
			}
			port, _ := strconv.Atoi(p)
			tokens := env[tokensFlag.env]
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) && tokens == "" {
				t.Errorf("%s=%q is not loopback and %s is unset: regnotify refuses to start", addrFlag.env, addr, tokensFlag.env)
			}
			mounted := false
			for _, vm := range c.VolumeMounts {
				for _, v := range pod.Spec.Volumes {
					if v.Name == vm.Name && v.Secret != nil && filepath.Dir(tokens) == filepath.Clean(vm.MountPath) {
						mounted = vm.SubPath == "" // a subPath mount never sees the Secret's updates
					}
				}
			}
			if !mounted {
				t.Errorf("%s=%q is not in a Secret mounted as a directory", tokensFlag.env, tokens)
			}
			if _, ok := secretExample(t).StringData[filepath.Base(tokens)]; !ok {
				t.Errorf("secret.example.yaml lacks the key %q of %s", filepath.Base(tokens), tokensFlag.env)
			}
			var named string
			for _, cp := range c.Ports {
				if cp.ContainerPort == int32(port) {
					named = cp.Name
				}
			}
			if named == "" {
				t.Fatalf("no containerPort %d (%s)", port, addrFlag.env)
			}
			svc := b.services[0]
			if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("Service type %s, want ClusterIP: the admin port must stay inside the cluster", svc.Spec.Type)
			}
			found := false
			for _, sp := range svc.Spec.Ports {
				if sp.TargetPort.String() == named || sp.TargetPort.IntValue() == port {
					found = true
					if sp.NodePort != 0 {
						t.Errorf("Service port %s has nodePort %d", sp.Name, sp.NodePort)
					}
				}
			}
			if !found {
				t.Errorf("Service %s has no port to the admin port %s/%d", svc.Name, named, port)
			}
		})
	}
}
