package config

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultDatabaseIsTheProjects: out of the box the daemon's tables go to
// a database of its own, which scripts/services.sh creates, never to the
// "postgres" maintenance database (or a template).
func TestDefaultDatabaseIsTheProjects(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(Default().Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || db == "postgres" || strings.HasPrefix(db, "template") {
		t.Fatalf("default database %q is a maintenance database", db)
	}
	script, err := os.ReadFile(filepath.Join("..", "scripts", "services.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "for db in "+db+" ") && !strings.Contains(string(script), "createdb -h \"$PG_HOST\" -p \"$PG_PORT\" -U postgres "+db) {
		t.Errorf("scripts/services.sh does not create the default database %q", db)
	}
}
