package k8s

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/all"
)

// TestPartitionedScaledObjects checks the overlay deploy/k8s-partitioned:
// every ScaledObject of the base is replaced by one whose triggers cover
// its group's lag in each partition key the daemon uses with 3 partitions
// and the prefix "{assistant}:", plus the router's group on the
// unpartitioned key, with the role's lag target split over the partitions.
func TestPartitionedScaledObjects(t *testing.T) {
	raw, err := os.ReadFile("../k8s-partitioned/scaledobjects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := load(t)
	baseLag := map[string]int{}
	for _, so := range base["ScaledObject"] {
		spec := decodeSpec[scaledObjectSpec](t, so)
		n, _ := strconv.Atoi(spec.Triggers[0].Metadata["lagCount"])
		baseLag[so.Metadata.Name] = n
	}
	reg := all.Registry()
	defaults := reg.DefaultConfig()
	keys := pipeline.Keys{Prefix: "{assistant}:", Partitions: 3}
	seen := 0
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		if _, ok := baseLag[o.Metadata.Name]; !ok {
			t.Errorf("ScaledObject %s patches nothing of the base", o.Metadata.Name)
			continue
		}
		spec := decodeSpec[scaledObjectSpec](t, o)
		stage := strings.TrimPrefix(spec.ScaleTargetRef.Name, "assistant-")
		def, ok := reg.Lookup(stage)
		if !ok {
			t.Fatalf("ScaledObject %s: no stage %s", o.Metadata.Name, stage)
		}
		input := def.Input(defaults.Streams)
		want := map[string]string{keys.Stream(input): pipeline.RouterGroup}
		for _, k := range keys.StreamKeys(input) {
			want[k] = def.Name
		}
		got := map[string]string{}
		for _, tr := range spec.Triggers {
			if tr.Type != "redis-cluster-streams" || tr.Metadata["addresses"] == "" {
				t.Errorf("ScaledObject %s: trigger %s without cluster addresses", o.Metadata.Name, tr.Type)
			}
			got[tr.Metadata["stream"]] = tr.Metadata["consumerGroup"]
			if lag, _ := strconv.Atoi(tr.Metadata["lagCount"]); lag != max(1, baseLag[o.Metadata.Name]/3) {
				t.Errorf("ScaledObject %s: lagCount %d, want the base's %d over 3 partitions", o.Metadata.Name, lag, baseLag[o.Metadata.Name])
			}
		}
		for k, g := range want {
			if got[k] != g {
				t.Errorf("ScaledObject %s: no trigger on %s group %s (triggers %v)", o.Metadata.Name, k, g, got)
			}
		}
		if len(got) != len(want) {
			t.Errorf("ScaledObject %s: triggers on %v, want exactly %v", o.Metadata.Name, slices.Sorted(maps.Keys(got)), want)
		}
	}
	if seen != len(baseLag) {
		t.Errorf("%d ScaledObjects in the overlay, %d in the base", seen, len(baseLag))
	}
}
