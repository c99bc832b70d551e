package config

import (
	"net"
	"testing"
)

// TestEmptyAddressTurnsListenerOff: ASSISTANT_API_ADDR= and
// ASSISTANT_HTTP_ADDR= (set, empty) turn those listeners off, as "" does
// in the file, although viper ignores empty variables otherwise.
func TestEmptyAddressTurnsListenerOff(t *testing.T) {
	clearEnv(t)
	t.Setenv("ASSISTANT_API_ADDR", "")
	t.Setenv("ASSISTANT_HTTP_ADDR", "")
	cfg, err := Load(writeConfig(t, "api:\n  addr: \":9999\"\nhttp:\n  addr: \":9998\"\n"), testSections...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Addr != "" || cfg.HTTP.Addr != "" {
		t.Errorf("api.addr %q, http.addr %q; want both off", cfg.API.Addr, cfg.HTTP.Addr)
	}
}

// TestAPIDefaultsToLoopback: without a setting the API listens on this
// host only; opening it is the operator's choice (with a token).
func TestAPIDefaultsToLoopback(t *testing.T) {
	clearEnv(t)
	cfg, err := Load("", testSections...)
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.API.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("default api.addr %q is not loopback", cfg.API.Addr)
	}
}
