package k8s

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/promcheck"
	"github.com/assistant-dev/assistant/stages/all"
)

// object is the part of a Kubernetes object the checks read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"`
	Spec       yaml.Node         `yaml:"spec"`
}

type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			Containers                    []struct {
				Name    string   `yaml:"name"`
				Image   string   `yaml:"image"`
				Args    []string `yaml:"args"`
				EnvFrom []struct {
					SecretRef struct {
						Name string `yaml:"name"`
					} `yaml:"secretRef"`
				} `yaml:"envFrom"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				LivenessProbe  probe `yaml:"livenessProbe"`
				ReadinessProbe probe `yaml:"readinessProbe"`
				VolumeMounts   []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			} `yaml:"containers"`
			Volumes []struct {
				Name      string `yaml:"name"`
				ConfigMap struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type pdbSpec struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

type scaledObjectSpec struct {
	ScaleTargetRef struct {
		Name string `yaml:"name"`
	} `yaml:"scaleTargetRef"`
	Triggers []struct {
		Type     string            `yaml:"type"`
		Metadata map[string]string `yaml:"metadata"`
	} `yaml:"triggers"`
}

// load reads every object of every manifest in this directory.
func load(t *testing.T) (map[string][]object, []string) {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]object{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" {
				t.Errorf("%s: an object without kind or apiVersion", f)
				continue
			}
			if o.Kind != "Kustomization" && o.Kind != "Namespace" && o.Metadata.Namespace != "assistant" {
				t.Errorf("%s: %s %s is not in namespace assistant", f, o.Kind, o.Metadata.Name)
			}
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	return byKind, files
}

func decodeSpec[T any](t *testing.T, o object) T {
	t.Helper()
	var spec T
	if err := o.Spec.Decode(&spec); err != nil {
		t.Fatalf("%s %s: spec: %v", o.Kind, o.Metadata.Name, err)
	}
	return spec
}

func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestManifests checks that the manifests describe the daemon as it is: a
// Deployment for every stage of the production registry running exactly
// that stage, probes on the ops endpoints, a grace period longer than the
// shutdown timeout, a PDB per role, KEDA scaling each stream-reading role on
// its own consumer group of its own input stream, Secret keys the daemon
// reads, and a ConfigMap the daemon's loader accepts.
func TestManifests(t *testing.T) {
	byKind, files := load(t)
	reg := all.Registry()
	defaults := reg.DefaultConfig()
	_, opsPort, err := net.SplitHostPort(defaults.HTTP.Addr)
	if err != nil {
		t.Fatalf("http.addr %q: %v", defaults.HTTP.Addr, err)
	}

	// The kustomization lists every manifest.
	if len(byKind["Kustomization"]) != 1 {
		t.Fatalf("want one kustomization.yaml, got %d", len(byKind["Kustomization"]))
	}
	listed := byKind["Kustomization"][0].Resources
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(listed, f) {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	for _, r := range listed {
		if !slices.Contains(files, r) {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}

	var secretKeys []string
	for _, s := range byKind["Secret"] {
		for k := range s.StringData {
			secretKeys = append(secretKeys, k)
		}
	}
	// A key is read by config itself, or by a stage that declares a
	// variable of its own (QDRANT_URL in the index stage's settings): its
	// name is then a string literal of the daemon's Go code.
	envNames := config.EnvNames()
	literals, err := promcheck.Literals(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range secretKeys {
		if !slices.Contains(envNames, k) && !strings.HasPrefix(k, config.EnvPrefix+"_") && !literals[k] {
			t.Errorf("Secret key %s is not an environment variable the daemon reads", k)
		}
	}

	configMaps := map[string]object{}
	for _, c := range byKind["ConfigMap"] {
		configMaps[c.Metadata.Name] = c
	}

	deployments := map[string]deploymentSpec{}
	roles := map[string]string{} // deployment name -> stage
	for _, d := range byKind["Deployment"] {
		spec := decodeSpec[deploymentSpec](t, d)
		deployments[d.Metadata.Name] = spec
		name := d.Metadata.Name
		for k, v := range spec.Selector.MatchLabels {
			if spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod labels", name, k, v)
			}
		}
		if len(spec.Template.Spec.Containers) != 1 {
			t.Errorf("%s: want one container", name)
			continue
		}
		c := spec.Template.Spec.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != "run" {
			t.Errorf("%s: args %v do not start with run", name, c.Args)
		}
		stages, ok := flagValue(c.Args, "stages")
		if !ok {
			t.Errorf("%s: args %v name no --stages", name, c.Args)
		}
		for _, s := range strings.Split(stages, ",") {
			if s == "api" { // the API and console role (cli/run.go)
				continue
			}
			if _, ok := reg.Lookup(s); !ok {
				t.Errorf("%s: --stages names %q, which is not a stage (have %v)", name, s, reg.Names())
			}
		}
		roles[name] = stages
		if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: probes %q/%q, want /healthz and /readyz", name, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
		}
		portOK := false
		for _, p := range c.Ports {
			if p.ContainerPort > 0 && opsPort == strconv.Itoa(p.ContainerPort) && c.LivenessProbe.HTTPGet.Port == p.Name {
				portOK = true
			}
		}
		if !portOK {
			t.Errorf("%s: no container port %s (http.addr) named by the probes", name, opsPort)
		}
		if grace := spec.Template.Spec.TerminationGracePeriodSeconds; float64(grace) <= defaults.Runner.ShutdownTimeout.Seconds() {
			t.Errorf("%s: terminationGracePeriodSeconds %d must exceed runner.shutdown_timeout %s", name, grace, defaults.Runner.ShutdownTimeout)
		}
		if len(c.EnvFrom) == 0 || len(byKind["Secret"]) == 0 || c.EnvFrom[0].SecretRef.Name != byKind["Secret"][0].Metadata.Name {
			t.Errorf("%s: does not take its environment from the Secret", name)
		}
		cfgFile, ok := flagValue(c.Args, "config")
		if !ok {
			t.Errorf("%s: no --config", name)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			for _, v := range spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap.Name != "" {
					cm, ok := configMaps[v.ConfigMap.Name]
					if !ok {
						t.Errorf("%s: mounts ConfigMap %s, which does not exist", name, v.ConfigMap.Name)
						continue
					}
					key := strings.TrimPrefix(strings.TrimPrefix(cfgFile, m.MountPath), "/")
					if _, ok := cm.Data[key]; ok {
						mounted = true
					}
				}
			}
		}
		if !mounted {
			t.Errorf("%s: --config=%s is not a key of a mounted ConfigMap", name, cfgFile)
		}
	}

	// Every production stage runs in some role.
	for _, s := range reg.Names() {
		found := false
		for _, stages := range roles {
			if slices.Contains(strings.Split(stages, ","), s) {
				found = true
			}
		}
		if !found {
			t.Errorf("stage %s runs in no Deployment", s)
		}
	}

	// A PDB per Deployment, selecting its pods.
	for name, spec := range deployments {
		covered := false
		for _, p := range byKind["PodDisruptionBudget"] {
			sel := decodeSpec[pdbSpec](t, p).Selector.MatchLabels
			match := len(sel) > 0
			for k, v := range sel {
				if spec.Template.Metadata.Labels[k] != v {
					match = false
				}
			}
			covered = covered || match
		}
		if !covered {
			t.Errorf("%s: no PodDisruptionBudget selects its pods", name)
		}
	}

	// KEDA: every role that reads a stream scales on its own group's lag.
	scaled := map[string]bool{}
	for _, so := range byKind["ScaledObject"] {
		spec := decodeSpec[scaledObjectSpec](t, so)
		target := spec.ScaleTargetRef.Name
		stages, ok := roles[target]
		if !ok {
			t.Errorf("ScaledObject %s scales %s, which is not a Deployment", so.Metadata.Name, target)
			continue
		}
		def, _ := reg.Lookup(stages)
		if !def.Reads() {
			t.Errorf("ScaledObject %s scales %s, which reads no stream", so.Metadata.Name, target)
			continue
		}
		for _, tr := range spec.Triggers {
			if tr.Type != "redis-streams" {
				t.Errorf("ScaledObject %s: trigger type %s", so.Metadata.Name, tr.Type)
			}
			if got, want := tr.Metadata["stream"], defaults.Redis.KeyPrefix+def.Input(defaults.Streams); got != want {
				t.Errorf("ScaledObject %s: stream %q, want %q", so.Metadata.Name, got, want)
			}
			if got := tr.Metadata["consumerGroup"]; got != def.Name {
				t.Errorf("ScaledObject %s: consumerGroup %q, want %q", so.Metadata.Name, got, def.Name)
			}
			if tr.Metadata["lagCount"] == "" {
				t.Errorf("ScaledObject %s: does not scale on lag", so.Metadata.Name)
			}
		}
		scaled[stages] = true
	}
	for _, stages := range roles {
		def, ok := reg.Lookup(stages)
		// The sweeping role is a singleton by design (a Redis lease).
		if ok && def.Reads() && def.Service == nil && !scaled[stages] {
			t.Errorf("role %s reads %s but no ScaledObject scales it", stages, def.Input(defaults.Streams))
		}
	}

	// The ConfigMap is a configuration the daemon accepts.
	for _, cm := range configMaps {
		for key, body := range cm.Data {
			path := filepath.Join(t.TempDir(), key)
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := reg.LoadConfig(path); err != nil {
				t.Errorf("ConfigMap %s key %s: %v", cm.Metadata.Name, key, err)
			}
		}
	}
}
