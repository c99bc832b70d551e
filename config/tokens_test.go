package config

import (
	"slices"
	"strings"
	"testing"
)

// TestAPITokens: api.tokens from the file and from the environment, its
// mistakes reported without the token, and the tokens redacted wherever the
// configuration is printed.
func TestAPITokens(t *testing.T) {
	clearEnv(t)
	const acme, globex = "acme-token-0123456789", "globex-token-0123456789"
	cfg, err := Load(writeConfig(t, "api:\n  tokens:\n    - \"acme:"+acme+"\"\n    - \"*:"+globex+"\"\n"), testSections...)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme:" + acme, "*:" + globex}; !slices.Equal(cfg.API.Tokens, want) {
		t.Errorf("api.tokens = %q, want %q", cfg.API.Tokens, want)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), acme) || strings.Contains(string(out), globex) || !strings.Contains(string(out), "acme:<redacted>") {
		t.Errorf("config print shows the tokens or hides the tenant:\n%s", out)
	}
	if cfg.API.Tokens[0] != "acme:"+acme {
		t.Error("Redacted changed the original")
	}

	t.Setenv("ASSISTANT_API_TOKENS", "acme:"+acme+",globex:"+globex)
	cfg, err = Load(writeConfig(t, "log:\n  level: info\n"), testSections...)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme:" + acme, "globex:" + globex}; !slices.Equal(cfg.API.Tokens, want) {
		t.Errorf("api.tokens from the environment = %q, want %q", cfg.API.Tokens, want)
	}

	for _, c := range []struct{ env, want string }{
		{"acme", "entry 1 is not \"<tenant>:<token>\""},
		{"acme:short-secret", "entry 1 (tenant acme): the token is 12 characters"},
		{"a:" + acme + ",b:" + acme, "entry 2 (tenant b): the same token is configured twice"},
	} {
		t.Setenv("ASSISTANT_API_TOKENS", c.env)
		_, err := Load(writeConfig(t, "log:\n  level: info\n"), testSections...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.env, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "short-secret") || strings.Contains(err.Error(), acme) {
			t.Errorf("%q: the error shows the token: %v", c.env, err)
		}
	}
}
