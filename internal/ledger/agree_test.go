package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

// agree fails t unless ParseReports and referenceParseReports read in
// alike under lim: both accept it with the same reports, or both refuse it
// with the same error.
func agree(t *testing.T, in []byte, lim Limits) {
	t.Helper()
	got, err := ParseReports(bytes.NewReader(in), lim)
	want, werr := referenceParseReports(bytes.NewReader(in), lim)
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("%q:\ngot  %d reports, %v\nwant %d reports, %v", in, len(got), err, len(want), werr)
	case err != nil:
		var e, we *mayfly.Error
		if !errors.As(err, &e) || !errors.As(werr, &we) || e.Code != we.Code || e.Field != we.Field || e.Msg != we.Msg {
			t.Fatalf("%q:\ngot  %v\nwant %v", in, err, werr)
		}
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%q:\ngot  %#v\nwant %#v", in, got, want)
	}
}

// FuzzLedgerParseReportsAgree: the single-pass decoder reads every input
// as the decoder it replaced did (three passes, encoding/json doing the
// reading): the same reports, or the same error.
func FuzzLedgerParseReportsAgree(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzLedgerParseReportsAgree/*")
	if len(seeds) == 0 {
		f.Fatal("no seed corpus in testdata/fuzz/FuzzLedgerParseReportsAgree")
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		agree(t, in, Limits{Line: 4 << 10, Records: 50})
	})
}

// TestLedgerParseReportsAgree holds cases where the two could part: the
// corners of JSON and of what encoding/json makes of it.
func TestLedgerParseReportsAgree(t *testing.T) {
	base := `"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"j"`
	bm := roaring64.BitmapOf(1, 2, 1<<40, 1<<63)
	bmb, _ := bm.ToPortableBytes()
	bm64 := base64.StdEncoding.EncodeToString(bmb)
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	lines := []string{
		`{` + base + `}`,
		`{` + base + `,"records":{"a":[1,2,3],"b":[],"c":[3,2,1,1]}}`,
		`{` + base + `,"records":{"a":[]}}`,
		`{` + base + `,"records":{"a":[]},"refused":true}`,
		`{` + base + `,"records":null,"refused":null,"iat":null,"exp":null,"kid":null,"method":null}`,
		`{` + base + `,"method":null}`,
		`{` + base + `,"iat":-0,"exp":1099511627776}`,
		`{` + base + `,"iat":-9223372036854775808}`,
		`{` + base + `,"iat":9223372036854775808}`,
		`{` + base + `,"iat":1e3}`,
		`{` + base + `,"records":{"a":[18446744073709551615,18446744073709551616,1]}}`,
		`{` + base + `,"records":{"a":[184467440737095516150]}}`,
		`{` + base + `,"records":{"a":[1.5e3,"x,y",[1,2]]}}`,
		`{` + base + `,"records":{"a":[01]}}`,
		`{` + base + `,"records":{"a":[-0]}}`,
		`{` + base + `,"records":{"a":[1],"\u0061":[2]}}`,
		`{` + base + `,"records":{"b":[1,2],"a":{"x":1,"x":1}}}`,
		`{` + base + `,"records":{"Z":[1],"a":"x"}}`,
		`{` + base + `,"records":{"a":"` + bm64 + `"}}`,
		`{` + base + `,"records":{"a":"` + bm64 + `","b":[5]}}`,
		`{` + base + `,"records":{"a":"` + bm64[:len(bm64)-4] + `"}}`,
		`{` + base + `,"records":{"a":""}}`,
		`{` + base + `,"records":{"a":"AAAAAAAAAAA="}}`,
		`{` + base + `,"records":{"a":"` + strings.ReplaceAll(bm64, "/", `\/`) + `"}}`,
		`{` + base + `,"\u0073ervice":"t"}`,
		`{` + base + `,"ſervice":"t"}`,
		`{` + base + `,"x":1,"y":2,"x":3}`,
		`{` + base + `,"x":{"a":1,"a":2,"b":{"c":1,"c":1}}}`,
		`{` + base + `,"service":1,"extra":[}`,
		`{` + base + `,"Service":1,"x":{"a":1,"a":1}}`,
		`{` + base + `,"x":{"a":1,"a":1},"Service":1}`,
		`{` + base + `,"kid":"\ud800"}`,
		`{` + base + `,"kid":"a` + "\xff" + `b"}`,
		`{` + base + `,"kid":"a` + "\x01" + `b"}`,
		`{` + base + `,"kid":"\u00e9t\u00e9"}`,
		`{` + base + `,"source_ip":"::ffff:1.2.3.4"}`,
		`{` + base + `,"x":` + deep + `}`,
		`{` + base + `,"x":` + "[" + deep + "]" + `}`,
		`{` + base + `,"x":tru}`,
		`{` + base + `,"x":"\q"}`,
		`{` + base + `,"x":"\u12"}`,
		`{` + base + `,"x":1.}`,
		`{` + base + `,"x":-}`,
		`{` + base + `,"x":1e}`,
		`{` + base + `} x`,
		`[1]`,
		`"x"`,
		`{}`,
		` {` + base + `} `,
		"\u00a0",
		`{` + base + `,"digest":"AAAAAAAAAAAAAAAAAAAAAA","time":"2031-05-06T07:08:09+01:00"}`,
		`{` + base + `,"records":{"a":[` + strings.Repeat("7,", 50) + `7]}}`,
		`{` + base + `,"records":{"a":[` + strings.Repeat("7,", 49) + `7]}}`,
	}
	for i, l := range lines {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			agree(t, []byte(l), Limits{Line: 64 << 10, Records: 50})
			agree(t, []byte(l+"\n"+l), Limits{Line: 64 << 10, Records: 50})
		})
	}
}

// FuzzLedgerRecordBitmap: records given as a bitmap never panic the
// parser, are bounded by the limit on record IDs, and read as the bitmap's
// IDs, sorted and distinct.
func FuzzLedgerRecordBitmap(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzLedgerRecordBitmap/*")
	if len(seeds) == 0 {
		f.Fatal("no seed corpus in testdata/fuzz/FuzzLedgerRecordBitmap")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1000
		line := `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"j","records":{"a":"` +
			base64.StdEncoding.EncodeToString(b) + `"}}`
		reps, err := ParseReports(strings.NewReader(line), Limits{Line: 1 << 20, Records: limit})
		rb, derr := decodeRecordBitmap([]byte(base64.StdEncoding.EncodeToString(b)))
		switch {
		case derr != nil:
			if err == nil {
				t.Fatalf("a bitmap that does not decode (%v) is accepted", derr)
			}
			return
		case rb.GetCardinality() > limit:
			if err == nil {
				t.Fatalf("%d IDs accepted, more than %d", rb.GetCardinality(), limit)
			}
			return
		case err != nil:
			t.Fatalf("a bitmap of %d IDs is refused: %v", rb.GetCardinality(), err)
		}
		got := reps[0].Records["a"]
		if want := rb.ToArray(); !slices.Equal(got, want) && len(want) > 0 {
			t.Fatalf("got %v, want %v", got, want)
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("IDs %v are not sorted and distinct", got)
		}
		agree(t, []byte(line), Limits{Line: 1 << 20, Records: limit})
	})
}
