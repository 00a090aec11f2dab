package ledger_test

import (
	"bytes"
	"math"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
)

// batchReports are reports of every shape the journal keeps.
func batchReports(t testing.TB) []mayfly.LedgerReport {
	reps, err := ledger.ParseReports(strings.NewReader(good+"\n"+goodToken+"\n"+
		`{"time":"2031-05-06T07:08:09.123456789Z","service":"crm","source_ip":"2001:db8::1","jti":"j2","refused":true}`+"\n"+
		`{"time":"2031-05-06T07:08:09Z","service":"crm","source_ip":"10.0.0.1","jti":"j2","iat":0,"records":{"a":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,1000],"b":[18446744073709551615],"c":[5,4294967296]}}`),
		ledger.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// As the ingest leaves them: a raw token verified, its claims set.
	reps[1].Token, reps[1].JTI, reps[1].Check = "", "j-token", mayfly.LedgerSigned
	reps[2].Check = mayfly.LedgerUnsigned
	// Fields no parsed report has, kept all the same; IDs in runs, which
	// the journal keeps as a bitmap.
	dense := make([]uint64, 100)
	for i := range dense {
		dense[i] = 1<<40 + uint64(i)
	}
	reps = append(reps, mayfly.LedgerReport{SourceIP: netip.MustParseAddr("fe80::1%eth0"), JTI: "j3",
		Time: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), Records: map[string][]uint64{"x": {math.MaxUint64 - 1, math.MaxUint64}, "dense": dense}},
		mayfly.LedgerReport{JTI: "j4"})
	return reps
}

func TestLedgerBatchRoundTrip(t *testing.T) {
	reps := batchReports(t)
	b, err := ledger.EncodeBatch(reps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.DecodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reps) {
		t.Errorf("got  %#v\nwant %#v", got, reps)
	}
	// The same reports encode the same, whatever their maps' order.
	again, _ := ledger.EncodeBatch(got)
	if !bytes.Equal(again, b) {
		t.Error("decoded reports encode otherwise")
	}
	// A raw token is never encoded.
	withToken, _ := ledger.ParseReports(strings.NewReader(goodToken), ledger.Limits{})
	b, err = ledger.EncodeBatch(withToken)
	if err != nil || bytes.Contains(b, []byte(strings.Split(secretToken, ".")[1])) {
		t.Errorf("encoded a raw token (%v)", err)
	}
	if got, err := ledger.DecodeBatch(b); err != nil || got[0].Token != "" || got[0].Digest != withToken[0].Digest {
		t.Errorf("got %+v, %v; want the digest without the token", got, err)
	}
	// Empty batches too.
	for _, in := range [][]mayfly.LedgerReport{nil, {}} {
		b, err := ledger.EncodeBatch(in)
		if got, derr := ledger.DecodeBatch(b); err != nil || derr != nil || len(got) != 0 {
			t.Errorf("empty: got %v, %v, %v", got, err, derr)
		}
	}
}

// Reports whose IDs are not sorted and distinct are refused, not kept
// wrong.
func TestLedgerEncodeBatchUnsorted(t *testing.T) {
	for _, ids := range [][]uint64{{2, 1}, {1, 1}} {
		if _, err := ledger.EncodeBatch([]mayfly.LedgerReport{{JTI: "j", Records: map[string][]uint64{"a": ids}}}); err == nil {
			t.Errorf("%v: encoded", ids)
		}
	}
}

// Every cut, every changed byte and any trailing byte is an error or
// another batch, never a panic.
func TestLedgerDecodeBatchDamaged(t *testing.T) {
	b, err := ledger.EncodeBatch(batchReports(t))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if got, err := ledger.DecodeBatch(b[:n]); err == nil {
			t.Errorf("%d of %d bytes: decoded %d reports", n, len(b), len(got))
		} else if mayfly.ErrorCode(err) != mayfly.Internal {
			t.Errorf("%d bytes: %v is not an internal error", n, err)
		}
	}
	if _, err := ledger.DecodeBatch(append(b, 0)); err == nil {
		t.Error("a trailing byte: decoded")
	}
	v2 := append([]byte{2}, b[1:]...)
	if _, err := ledger.DecodeBatch(v2); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("version 2: %v", err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0xff
		_, _ = ledger.DecodeBatch(c)
	}
}

// FuzzDecodeBatch: DecodeBatch never panics, and what it decodes encodes
// to a batch that decodes the same.
func FuzzDecodeBatch(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzDecodeBatch/*")
	if len(seeds) == 0 {
		f.Fatal("no seed corpus in testdata/fuzz/FuzzDecodeBatch")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		reps, err := ledger.DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := ledger.EncodeBatch(reps)
		if err != nil {
			return // IDs out of order: DecodeBatch keeps them in order
		}
		got, err := ledger.DecodeBatch(again)
		if err != nil || len(got) != len(reps) {
			t.Fatalf("re-encoded %d reports do not decode: %v", len(reps), err)
		}
		if !reflect.DeepEqual(got, reps) {
			t.Fatalf("got  %v\nwant %v", got, reps)
		}
	})
}
