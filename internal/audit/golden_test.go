package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/store/sqlite"
	"github.com/transparency-dev/merkle/rfc6962"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const goldenFile = "testdata/canonical_entries.golden"

// goldenEntries are audit entries as callers hand them to Append, each
// with how far the clock moves before it is appended. Between them they
// set every field, leave each optional field out, and carry details whose
// keys need sorting and whose values need escaping.
var goldenEntries = []struct {
	advance time.Duration
	e       mayfly.AuditEntry
}{
	{0, mayfly.AuditEntry{Action: "key.revoked", Actor: "adm_skilkttgrovas3if", Principal: "prn_2qu65cgk6lby7wff",
		Client: "mfc_qrfywspuduxwpzxu", KID: "FZQezx7rMJ5N1P4MxTKJwA", Ring: "default",
		Details: map[string]string{"reason": "left the company", "seq": "3", "kind": "kid"}}},
	// The clock reaches a whole second: no fraction at all.
	{876543211 * time.Nanosecond, mayfly.AuditEntry{Action: "ring.created", Actor: "mayfly", Ring: "edge",
		Details: map[string]string{"alg": "EdDSA", "lifetime": "12h0m0s"}}},
	// Trailing zeros of the fraction are dropped.
	{120 * time.Millisecond, mayfly.AuditEntry{Action: "audit.verified", Actor: "mayfly"}},
	// An empty details map is left out like a nil one.
	{time.Nanosecond, mayfly.AuditEntry{Action: "client.created", Actor: "adm_x", Client: "mfc_x", Details: map[string]string{}}},
	// Keys sort bytewise: upper case before lower, the empty key first.
	{time.Hour, mayfly.AuditEntry{Action: "details.sorted", Actor: "mayfly", Details: map[string]string{
		"zeta": "z", "alpha": "a", "Zeta": "Z", "alpha_2": "a2", "alpha.1": "a1", "": "empty key", "empty": ""}}},
	// encoding/json escapes quotes, backslashes and control characters, and
	// also <, >, & and U+2028/U+2029, and replaces invalid UTF-8 with U+FFFD.
	{0, mayfly.AuditEntry{Action: "details.escaped", Actor: "prn_\"quoted\"", Principal: "prn_é", Details: map[string]string{
		"quote":     `say "hi"`,
		"backslash": `C:\mayfly\data`,
		"control":   "tab\tnewline\nreturn\rnul\x00bell\x07",
		"html":      "<script>alert('x')</script> & more",
		"unicode":   "é ñ ✓ 😀 \u2028\u2029",
		"invalid":   "bad \xff\xfe utf-8",
		"key \"q\"": "keys are escaped too",
	}}},
}

// TestGoldenCanonicalEntries: the bytes the log stores for an entry, and
// its RFC 6962 leaf hash, are what investigators recompute with their own
// tools (README, "The audit log"). Any change to the encoding (a field
// renamed, reordered or added, a time format, an escape) fails here; if it
// is meant, every published extract changes meaning, and the golden file is
// rewritten with
//
//	go test ./internal/audit -run Golden -update
//
// The entries go through a real log on SQLite whose clock is in a zone
// eight hours west of UTC, with nanoseconds: the log stores times in UTC.
func TestGoldenCanonicalEntries(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 8, 23, 59, 59, 123456789, time.FixedZone("UTC-8", -8*3600))
	clock := apptest.NewClock(start)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root := make([]byte, seal.RootKeySize)
	rand.Read(root)
	sealer, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, audit.Config{Store: st, Sealer: sealer, Clock: clock, Rand: rand.Reader,
		Log: slog.New(slog.DiscardHandler), Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var want []mayfly.AuditEntry // as the log should number and time them
	for i, g := range goldenEntries {
		clock.Advance(g.advance)
		idx, err := l.Append(ctx, g.e)
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(i) {
			t.Fatalf("entry %d appended at index %d", i, idx)
		}
		e := g.e
		e.V, e.Index, e.Time = 1, idx, clock.Now().UTC()
		want = append(want, e)
	}
	recs, err := l.Search(ctx, mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d stored entries, want %d", len(recs), len(want))
	}

	var got bytes.Buffer
	got.WriteString(goldenHeader)
	for i, r := range recs {
		// The stored body is encoding/json of the entry as the log filled
		// it in, and the leaf is SHA-256 over 0x00 and the body.
		body, err := json.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Body, body) {
			t.Errorf("entry %d: stored body\n%s\nwant json.Marshal of the entry\n%s", i, r.Body, body)
		}
		leaf := sha256.Sum256(append([]byte{0}, r.Body...))
		if !bytes.Equal(r.LeafHash, leaf[:]) || !bytes.Equal(r.LeafHash, rfc6962.DefaultHasher.HashLeaf(r.Body)) {
			t.Errorf("entry %d: stored leaf hash %x, want SHA-256(0x00 || body) %x", i, r.LeafHash, leaf)
		}
		fmt.Fprintf(&got, "%s\n%x\n", r.Body, r.LeafHash)
	}

	if *update {
		if err := os.WriteFile(goldenFile, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), golden) {
		g, w := strings.Split(got.String(), "\n"), strings.Split(string(golden), "\n")
		for i := 0; i < max(len(g), len(w)); i++ {
			var gl, wl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(w) {
				wl = w[i]
			}
			if gl != wl {
				t.Fatalf("%s line %d differs: the canonical encoding of audit entries changed\ngot:  %s\nwant: %s\n(if the change is meant, rerun with -update)", goldenFile, i+1, gl, wl)
			}
		}
	}
}

const goldenHeader = `# The canonical JSON of mayfly.AuditEntry as internal/audit stores it, one
# entry per line, each followed by its RFC 6962 leaf hash in hex:
# SHA-256 of the byte 0x00 and the line's bytes (without the newline).
# Written by TestGoldenCanonicalEntries; regenerate with
#   go test ./internal/audit -run Golden -update
`

// TestGoldenFileParses: the golden file is readable as what its header
// says, by the rules an investigator would use, without the log.
func TestGoldenFileParses(t *testing.T) {
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2*len(goldenEntries) {
		t.Fatalf("got %d body and hash lines, want %d", len(lines), 2*len(goldenEntries))
	}
	for i := 0; i < len(lines); i += 2 {
		body, hash := lines[i], lines[i+1]
		var e mayfly.AuditEntry
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("line %q: %v", body, err)
		}
		if e.Time.Location() != time.UTC || e.Index != uint64(i/2) || e.V != 1 {
			t.Errorf("entry %d: v %d index %d time %s; want v 1, its index, a UTC time", i/2, e.V, e.Index, e.Time)
		}
		leaf := sha256.Sum256(append([]byte{0}, body...))
		if hash != hex.EncodeToString(leaf[:]) {
			t.Errorf("entry %d: hash %s, want %x", i/2, hash, leaf)
		}
	}
}
