package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version, revision and modified are stamped at build time (the Makefile
// and the Dockerfile do):
//
//	go build -ldflags "-X github.com/assistant-dev/assistant/cli.version=v1.2.3
//	  -X github.com/assistant-dev/assistant/cli.revision=$(git rev-parse HEAD)
//	  -X github.com/assistant-dev/assistant/cli.modified=true"
//
// Without them, the module version and the VCS data the Go toolchain records
// in the binary are used; it records none with -buildvcs=false or when the
// sources are not in a git work tree (a Docker build context without .git),
// which is why the revision is stamped explicitly.
var (
	version  = ""
	revision = ""
	modified = "" // "true" when built from a work tree with uncommitted changes
)

// buildInfo is what `assistant version` and the assistant_build_info metric
// report.
type buildInfo struct {
	Version   string
	Revision  string
	Time      string
	Modified  bool
	GoVersion string
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: version, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if bi.Version == "" {
			bi.Version = "unknown"
		}
		bi.Revision, bi.Modified = revision, modified == "true"
		return bi
	}
	if bi.Version == "" && info.Main.Version != "(devel)" {
		// A pseudo-version from the VCS (go build in a work tree, Go 1.24+)
		// or a module version (go install ...@v1.2.3).
		bi.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.Revision = s.Value
		case "vcs.time":
			bi.Time = s.Value
		case "vcs.modified":
			bi.Modified = s.Value == "true"
		}
	}
	if revision != "" {
		bi.Revision, bi.Modified = revision, modified == "true"
	}
	if bi.Version == "" {
		// `go run` and `go test` record "(devel)", which reads like an
		// error; the revision, when the toolchain recorded one, follows.
		bi.Version = "dev"
	}
	return bi
}

// versionString is one line: version, revision (short, "+dirty" when built
// from modified sources), commit time and Go version.
func versionString() string {
	bi := readBuildInfo()
	s := "assistant " + bi.Version
	if bi.Revision != "" {
		rev := bi.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if bi.Modified {
			rev += "+dirty"
		}
		s += " (" + rev
		if bi.Time != "" {
			s += ", " + bi.Time
		}
		s += ")"
	}
	return fmt.Sprintf("%s %s %s/%s", s, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(a.stdout, versionString())
			return err
		},
	}
}
