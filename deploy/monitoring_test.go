package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeMonitoring: the monitoring profile's Prometheus loads the
// alert rules and scrapes the ops port of every daemon role, and Grafana
// gets the dashboard file and the Prometheus data source; every file they
// mount from this directory exists (the dashboard once deploy/grafana lands).
func TestComposeMonitoring(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command  []string `yaml:"command"`
			Profiles []string `yaml:"profiles"`
			Volumes  []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{} // container path -> host path
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := f.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if !slices.Contains(s.Profiles, "monitoring") {
			t.Errorf("%s is not in the monitoring profile", name)
		}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if strings.HasPrefix(parts[0], "./") {
				mounts[parts[1]] = parts[0]
			}
		}
	}
	for _, want := range []string{"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml", "/etc/grafana/provisioning", "/var/lib/grafana/dashboards/assistant.json"} {
		host, ok := mounts[want]
		if !ok {
			t.Errorf("nothing mounted at %s", want)
			continue
		}
		if _, err := os.Stat(filepath.FromSlash(host)); err != nil && want != "/var/lib/grafana/dashboards/assistant.json" {
			t.Errorf("%s: %v", want, err)
		}
	}
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	raw, err = os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &prom); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(prom.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("rule_files %v lack the mounted alerts.yml", prom.RuleFiles)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	for name, s := range f.Services {
		if slices.Contains(s.Command, "run") && !slices.Contains(targets, fmt.Sprintf("%s:8000", name)) {
			t.Errorf("daemon %s (ops port 8000) is not scraped: targets %v", name, targets)
		}
	}
}
