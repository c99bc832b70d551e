package events_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/events"
)

// TestContentHashMatchesPythonVectors pins content_hash to what the old
// system's ingest computes, sha256(" ".join(text.lower().strip().split())),
// for the characters where Go's unicode.IsSpace and unicode.ToLower differ
// from Python's str.split and str.lower: the separators U+001C–U+001F, İ
// (U+0130 lowers to "i̇") and the final sigma. The expected hashes were
// printed by CPython 3.11.
func TestContentHashMatchesPythonVectors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"\u039f\u0394\u039f\u03a3", "3a2c9e1f2803431e23ed51a84e18ba04188301f1911b75310e9704974aebe4e8"},
		{"\u039f\u0394\u039f\u03a3 \u0391\u0398\u0397\u039d\u03a9\u039d", "64c15be121791cb9d1fda57a15c044748a6ce269dc59f6befcdf305e089eeb87"},
		{"\u03a3\u0391\u03a3", "15d4f8e9eed6148dc9d75aa9647732666477f72212d042b653bf4194c86b4e7a"},
		{"\u03a3", "ff59ed1e562b056aea9bfdf757bada8c1eb638b10b75bfc7835beca4c2db0360"},
		{"\u0391\u03a3.", "c8b9a1d347124e6bdc7154b51f6e358e41b32d2c06d48395e30244fecfe40189"},
		{"\u0391\u03a3'\u0392", "f8a8ff4ca76364847d262d3f662ec79696c206d7d8a4f0d1cb806d1fe25e2835"},
		{"\u0391\u03a3\u0301", "f5030044da182e90bd12517f860fc926e9c457672acd1f9e108f58bb9f15ebae"},
		{"\u0391\u03a3\u0301\u0392", "fa23441a10b37829c32b6b80a15c4a817a72b23cbfa0972b6465ec3de78161f5"},
		{"\u0130stanbul", "4a4df120f7d1f3c286f58651abfcec2aade892ace635f96f02b946c96e6e1f86"},
		{"\u0130", "fbbdb347060082cf4e72cdc5f02679dd809ebf4e6c601933e858d954a65f5e73"},
		{"a\u001cb", "c8687a08aa5d6ed2044328fa6a697ab8e96dc34291e8c2034ae8c38e6fcc6d65"},
		{"a\u001d\u001e\u001fb", "c8687a08aa5d6ed2044328fa6a697ab8e96dc34291e8c2034ae8c38e6fcc6d65"},
		{"\u001c lead", "e3456bc1f4d270f4a97933758645fdc21e39642b31ca343c1818f7972ac27906"},
		{"trail \u001f", "897abbb178d59a98b5bbc2f51aa5ef612730a437bd717f8a5b344d8a747d987f"},
		{"\u0391\u03a3\u001c\u0392", "ac690a58148972a18ff4df5b90a2c7ba3c74fd01cc3871dd805205ab349650f1"},
		{"\u041f\u0440\u0438\u0432\u0435\u0442,\n \u041c\u0418\u0420  ", "7ae3c8e991627c58597ead5c7bea19821fa14354b33bb52cf1ed490d4d8aea86"},
		{"\u0391\u03a31", "985499987edefd77e88074fd92f33f5b7c76d3ef1605fb4ea8de2234f38e77ec"},
		{"\u0391\u03a3_", "a0ea182cd7bae462bd7b1b2568035cd9198f0e6a3f64f5bb812855046dd4be13"},
		{"x\u00ad\u03a3", "2f50affe1d6490ac3ce7fc2df1571a867d1a032e9961087541abdaec33119a30"},
		{"\u0394\u0399\u0391 \u03a4\u0397\u03a3 \u039f\u0394\u039f\u03a5.", "58790376d64559ca80c36333d3aaa5a62bada1dcb4a9ca3a33576ecece0309dc"},
		{"\u03a3 \u03a3 \u03a3", "b77a6a53128a26b904210e05da893c04400bd8f99db994c2fb4906969dbcce93"},
		{"\u2028\u03a4\u0388\u039b\u039f\u03a3\u3000", "34b9076efafb1cd9cf06ddf6a633202c7413bc9fc07ed06299d7dc5683680729"},
	} {
		if got := events.ContentHash(c.text); got != c.want {
			t.Errorf("ContentHash(%+q) = %s, want %s (Python)", c.text, got, c.want)
		}
	}
}

// TestContentHashAgreesWithPython compares ContentHash with CPython itself
// on 3,000 random strings drawn from the characters whose rules differ
// (separators, cased and case-ignorable letters, sigma, dotted I, spaces).
// It needs python3 on PATH and is skipped without it.
func TestContentHashAgreesWithPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the reference implementation is not available")
	}
	alphabet := []rune("aZΣσςΑΒİIiΟ \t\n\v\f\r\x1c\x1d\x1e\x1f\u0085\u00a0\u2028\u3000.':_1-\u0301\u00ad\u0345ʰ^ПМиЁё")
	rng := rand.New(rand.NewPCG(21, 5))
	texts := make([]string, 3000)
	for i := range texts {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		texts[i] = b.String()
	}
	in, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", `import hashlib, json, sys
for t in json.load(sys.stdin):
    print(hashlib.sha256(" ".join(t.lower().strip().split()).encode("utf-8")).hexdigest())`)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	want := strings.Fields(string(out))
	if len(want) != len(texts) {
		t.Fatalf("python3 printed %d hashes for %d texts", len(want), len(texts))
	}
	bad := 0
	for i, text := range texts {
		if got := events.ContentHash(text); got != want[i] {
			if bad++; bad <= 10 {
				t.Errorf("ContentHash(%+q) = %s, Python %s", text, got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d texts hash differently from Python", bad, len(texts))
	}
}
