package ledger_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// secretToken is a compact JWS whose every part is distinctive, to find
// in errors.
const secretToken = "eyJhbGciOiJFUzI1NiIsImtpZCI6InNlY3JldC1raWQifQ.eyJqdGkiOiJzZWNyZXQtanRpLXZhbHVlIn0.c2lnbmF0dXJlLXNlY3JldC1ieXRlcw"

const good = `{"time":"2031-05-06T07:08:09Z","service":"billing","source_ip":"10.0.0.1","method":"GET","route":"/customers/{id}",` +
	`"records":{"customer":[42,17,42]},"jti":"jti-1","kid":"k1","iss":"https://mayfly.test","sub":"svc","client_id":"cli-1","iat":1000,"exp":2000,"digest":"AAAAAAAAAAAAAAAAAAAAAA"}`

const goodToken = `{"time":"2031-05-06T07:08:10.5+02:00","service":"billing","source_ip":"::ffff:10.0.0.2","token":"` + secretToken + `"}`

func TestLedgerParseReports(t *testing.T) {
	reps, err := ledger.ParseReports(strings.NewReader(good+"\r\n"+goodToken+"\n"), ledger.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 {
		t.Fatalf("got %d reports, want 2", len(reps))
	}
	r := reps[0]
	want := mayfly.LedgerReport{
		Time: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC), Service: "billing", SourceIP: netip.MustParseAddr("10.0.0.1"),
		Method: "GET", Route: "/customers/{id}", Records: map[string][]uint64{"customer": {17, 42}},
		JTI: "jti-1", KID: "k1", Issuer: "https://mayfly.test", Subject: "svc", ClientID: "cli-1",
		IssuedAt: time.Unix(1000, 0).UTC(), Expires: time.Unix(2000, 0).UTC(), Digest: "AAAAAAAAAAAAAAAAAAAAAA",
	}
	if fmt.Sprintf("%#v", r) != fmt.Sprintf("%#v", want) {
		t.Errorf("got  %#v\nwant %#v", r, want)
	}
	r = reps[1]
	digest, _ := canon.Digest(secretToken)
	if string(r.Token) != secretToken || r.Digest != digest || r.JTI != "" {
		t.Errorf("token report: digest %q jti %q, token kept %v; want digest %q", r.Digest, r.JTI, string(r.Token) == secretToken, digest)
	}
	if !r.Time.Equal(time.Date(2031, 5, 6, 5, 8, 10, 5e8, time.UTC)) || r.SourceIP != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("token report: time %v source %v; want 05:08:10.5 UTC and 10.0.0.2 unmapped", r.Time, r.SourceIP)
	}
	// The token never prints, formats or logs.
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("report", "token", r.Token, "report", r)
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%+v %#v %q %s %x", r, r, r.Token, r.Token, r.Token), log.String()} {
		if leaks(s) {
			t.Errorf("the token shows in %q", s)
		}
	}
}

// leaks reports whether s holds any part of secretToken.
func leaks(s string) bool {
	for _, part := range strings.Split(secretToken, ".") {
		if strings.Contains(s, part) || strings.Contains(s, part[:12]) {
			return true
		}
	}
	return false
}

func TestLedgerParseReportIDs(t *testing.T) {
	line := `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"j","records":{"a":[0,4294967296,18446744073709551615,9007199254740993,4294967295]}}`
	reps, err := ledger.ParseReports(strings.NewReader(line), ledger.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := reps[0].Records["a"]
	want := []uint64{0, 1<<32 - 1, 1 << 32, 1<<53 + 1, math.MaxUint64}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLedgerParseReportsRefused(t *testing.T) {
	base := `"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1"`
	claims := base + `,"jti":"j"`
	tok := base + `,"token":"` + secretToken + `"`
	tests := []struct {
		name, line, member string
	}{
		{"not JSON", `{"time":`, ""},
		{"not JSON at all", `{"time" 1}`, ""},
		{"member twice deeper", `{` + claims + `,"extra":[{"x":1,"x":2}]}`, "extra"},
		{"not JSON after", `{` + claims + `,}`, ""},
		{"not an object", `[1]`, ""},
		{"two values", `{` + claims + `} {}`, ""},
		{"blank", `  `, ""},
		{"no time", `{"service":"s","source_ip":"10.0.0.1","jti":"j"}`, "time"},
		{"no service", `{"time":"2031-05-06T07:08:09Z","source_ip":"10.0.0.1","jti":"j"}`, "service"},
		{"no source_ip", `{"time":"2031-05-06T07:08:09Z","service":"s","jti":"j"}`, "source_ip"},
		{"no jti nor token", `{` + base + `}`, "jti"},
		{"both", `{` + tok + `,"jti":"j"}`, "jti"},
		{"token and digest", `{` + tok + `,"digest":"AAAAAAAAAAAAAAAAAAAAAA"}`, "digest"},
		{"bad time", `{` + claims + `,"time":"yesterday"}`, "time"},
		{"time not RFC 3339", `{"time":"2031-05-06 07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"j"}`, "time"},
		{"time of old", `{"time":"1969-12-31T23:59:59Z","service":"s","source_ip":"10.0.0.1","jti":"j"}`, "time"},
		{"empty service", `{"time":"2031-05-06T07:08:09Z","service":"","source_ip":"10.0.0.1","jti":"j"}`, "service"},
		{"service with a line break", `{"time":"2031-05-06T07:08:09Z","service":"a\nb","source_ip":"10.0.0.1","jti":"j"}`, "service"},
		{"service not a string", `{"time":"2031-05-06T07:08:09Z","service":7,"source_ip":"10.0.0.1","jti":"j"}`, "service"},
		{"bad source", `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.256","jti":"j"}`, "source_ip"},
		{"source with zone", `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"fe80::1%eth0","jti":"j"}`, "source_ip"},
		{"bad method", `{` + claims + `,"method":"GE T"}`, "method"},
		{"long route", `{` + claims + `,"route":"` + strings.Repeat("r", 1025) + `"}`, "route"},
		{"long jti", `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"` + strings.Repeat("j", 257) + `"}`, "jti"},
		{"iat a float", `{` + claims + `,"iat":1.5}`, "iat"},
		{"exp negative", `{` + claims + `,"exp":-1}`, "exp"},
		{"exp a string", `{` + claims + `,"exp":"2000"}`, "exp"},
		{"short digest", `{` + claims + `,"digest":"AAAA"}`, "digest"},
		{"digest with stray bits", `{` + claims + `,"digest":"AAAAAAAAAAAAAAAAAAAAAB"}`, "digest"},
		{"refused with records", `{` + claims + `,"refused":true,"records":{"a":[1]}}`, "records"},
		{"refused not a bool", `{` + claims + `,"refused":"yes"}`, "refused"},
		{"records an array", `{` + claims + `,"records":[1]}`, "records"},
		{"namespace upper case", `{` + claims + `,"records":{"Customer":[1]}}`, "records"},
		{"namespace too long", `{` + claims + `,"records":{"` + strings.Repeat("a", 65) + `":[1]}}`, "records"},
		{"namespace empty", `{` + claims + `,"records":{"":[1]}}`, "records"},
		{"namespace twice", `{` + claims + `,"records":{"a":[1],"a":[2]}}`, "records"},
		{"IDs not an array", `{` + claims + `,"records":{"a":1}}`, "records"},
		{"ID negative", `{` + claims + `,"records":{"a":[-1]}}`, "records"},
		{"ID a float", `{` + claims + `,"records":{"a":[1.0]}}`, "records"},
		{"ID in exponent form", `{` + claims + `,"records":{"a":[1e3]}}`, "records"},
		{"ID a string", `{` + claims + `,"records":{"a":["1"]}}`, "records"},
		{"ID null", `{` + claims + `,"records":{"a":[null]}}`, "records"},
		{"ID 2^64", `{` + claims + `,"records":{"a":[18446744073709551616]}}`, "records"},
		{"member twice", `{` + claims + `,"service":"t"}`, "service"},
		{"member in another case", `{` + claims + `,"Service":"t"}`, "Service"},
		{"token twice", `{` + tok + `,"token":"` + secretToken + `"}`, "token"},
		{"token not a JWS", `{` + base + `,"token":"` + strings.ReplaceAll(secretToken, ".", "") + `"}`, "token"},
		{"token not a string", `{` + base + `,"token":{"t":"` + secretToken + `"}}`, "token"},
		{"token too long", `{` + base + `,"token":"` + secretToken + strings.Repeat("A", 8<<10) + `"}`, "token"},
		{"token and a bad time", `{"time":"now",` + tok[len(`"time":"2031-05-06T07:08:09Z",`):] + `}`, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good + "\n" + tt.line + "\n" + good + "\n"
			reps, err := ledger.ParseReports(strings.NewReader(in), ledger.Limits{})
			var me *mayfly.Error
			if !errors.As(err, &me) || me.Code != mayfly.Invalid {
				t.Fatalf("got %d reports, error %v; want an Invalid error", len(reps), err)
			}
			if reps != nil {
				t.Errorf("got %d reports with the error, want none", len(reps))
			}
			msg := me.Error()
			if !strings.HasPrefix(me.Msg, "line 2") {
				t.Errorf("error %q does not name line 2", msg)
			}
			if me.Field != tt.member || (tt.member != "" && !strings.Contains(me.Msg, tt.member)) {
				t.Errorf("error %q names member %q, want %q", msg, me.Field, tt.member)
			}
			if leaks(msg) {
				t.Errorf("error %q shows the token", msg)
			}
		})
	}
}

func TestLedgerParseReportsBounds(t *testing.T) {
	line := func(ids int) string {
		s := make([]string, ids)
		for i := range s {
			s[i] = fmt.Sprint(1<<40 + i)
		}
		return `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"j","records":{"a":[` + strings.Join(s, ",") + `]}}`
	}
	lim := ledger.Limits{Line: 1 << 20, Records: 100}
	tests := []struct {
		name, in string
		lim      ledger.Limits
		ok       bool
		msg      string
	}{
		{"trailing newline", good + "\n", ledger.Limits{}, true, ""},
		{"no trailing newline", good + "\n" + good, ledger.Limits{}, true, ""},
		{"empty", "", ledger.Limits{}, false, "no report"},
		{"just a newline", "\n", ledger.Limits{}, false, "line 1: a blank line"},
		{"blank line between", good + "\n\n" + good, ledger.Limits{}, false, "line 2: a blank line"},
		{"two trailing newlines", good + "\n\n", ledger.Limits{}, false, "line 2: a blank line"},
		{"IDs at the bound", line(100), lim, true, ""},
		{"IDs past the bound", line(101), lim, false, "line 1: records: more than 100 record IDs"},
		{"line at the bound", good + "\n", ledger.Limits{Line: len(good) + 1}, true, ""},
		{"line past the bound", good + "\n" + good + " \n", ledger.Limits{Line: len(good) + 1}, false, "line 2: longer than"},
		{"huge line", good + "\n" + line(20000), ledger.Limits{}, false, "line 2: longer than 65536 bytes"},
		{"lines at the bound", strings.Repeat(good+"\n", 3), ledger.Limits{Lines: 3}, true, ""},
		{"lines past the bound", strings.Repeat(good+"\n", 4), ledger.Limits{Lines: 3}, false, "more than 3 lines"},
		{"bytes at the bound", strings.Repeat(good+"\n", 3), ledger.Limits{Bytes: 3 * (len(good) + 1)}, true, ""},
		{"bytes past the bound", strings.Repeat(good+"\n", 3) + " ", ledger.Limits{Bytes: 3 * (len(good) + 1)}, false, "larger than"},
		{"bytes past the bound mid-line", strings.Repeat(good+"\n", 3), ledger.Limits{Bytes: 3*(len(good)+1) - 10}, false, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reps, err := ledger.ParseReports(strings.NewReader(tt.in), tt.lim)
			if tt.ok {
				if err != nil || len(reps) == 0 {
					t.Fatalf("got %d reports, error %v; want them", len(reps), err)
				}
				return
			}
			if !errors.Is(err, mayfly.ErrInvalid) || !strings.Contains(mayfly.ErrorMessage(err), tt.msg) || reps != nil {
				t.Errorf("got %d reports, error %v; want an Invalid error with %q", len(reps), err, tt.msg)
			}
		})
	}
}

// A reader that fails is an internal error, not the caller's.
func TestLedgerParseReportsReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader(good+"\n"), errReader{})
	if _, err := ledger.ParseReports(r, ledger.Limits{}); mayfly.ErrorCode(err) != mayfly.Internal {
		t.Errorf("got %v, want an internal error", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// Records given as a bitmap: the README's example, and what is refused.
func TestLedgerParseReportBitmap(t *testing.T) {
	line := func(recs string) string {
		return `{"time":"2031-05-06T07:08:09Z","service":"s","source_ip":"10.0.0.1","jti":"j","records":{` + recs + `}}`
	}
	b64 := func(rb *roaring64.Bitmap) string {
		rb.RunOptimize()
		b, _ := rb.ToPortableBytes()
		return base64.StdEncoding.EncodeToString(b)
	}
	reps, err := ledger.ParseReports(strings.NewReader(line(`"customer":"AQAAAAAAAAAAAAAAOjAAAAEAAAAAAAEAEAAAABEAKgA=","order":[9]`)), ledger.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := reps[0].Records; !slices.Equal(got["customer"], []uint64{17, 42}) || !slices.Equal(got["order"], []uint64{9}) || len(got) != 2 {
		t.Errorf("got %v, want customer 17, 42 and order 9", got)
	}
	wide := roaring64.New()
	wide.AddRange(1<<40, 1<<40+100_001) // 100,001 IDs in a few bytes
	reps, err = ledger.ParseReports(strings.NewReader(line(`"a":"`+b64(roaring64.New())+`"`)), ledger.Limits{})
	if err != nil || reps[0].Records != nil {
		t.Errorf("an empty bitmap: got %v, %v; want no records", reps, err)
	}
	// Bitmaps hold many IDs in few bytes: the batch's are bounded as
	// arrays would bound them, at half its bytes.
	run := roaring64.New()
	run.AddRange(0, 300)
	two := line(`"a":"`+b64(run)+`"`) + "\n" + line(`"b":"`+b64(run)+`"`)
	if _, err := ledger.ParseReports(strings.NewReader(two), ledger.Limits{Bytes: 1100}); !strings.Contains(mayfly.ErrorMessage(err), "line 2: records: the batch holds more than 550 record IDs") {
		t.Errorf("600 IDs in %d bytes: got %v, want the batch refused at line 2", len(two), err)
	}
	if _, err := ledger.ParseReports(strings.NewReader(two), ledger.Limits{Bytes: 1200}); err != nil {
		t.Errorf("600 IDs in a batch of up to 1200 bytes: %v", err)
	}
	at := roaring64.New()
	at.AddRange(0, 99_999)
	for _, tt := range []struct{ name, recs, msg string }{
		{"not base64", `"a":"AQAA*AAA"`, "not base64"},
		{"unpadded", `"a":"AQAAAAAAAAAAAAAAOjAAAAEAAAAAAAEAEAAAABEAKgA"`, "not base64"},
		{"truncated", `"a":"AQAAAAAAAAAAAAAAOjAAAAEAAAAAAAEAEAAAABEA"`, "does not decode"},
		{"trailing bytes", `"a":"` + base64.StdEncoding.EncodeToString(append(must(roaring64.BitmapOf(7).ToPortableBytes()), 0)) + `"`, "after its end"},
		{"empty string", `"a":""`, "empty"},
		{"too many IDs", `"a":"` + b64(wide) + `"`, "more than 100000 record IDs"},
		{"too many together", `"a":"` + b64(at) + `","b":[1,2]`, "more than 100000 record IDs"},
		{"refused", `"a":"AQAAAAAAAAAAAAAAOjAAAAEAAAAAAAEAEAAAABEAKgA="},"refused":true,"x":{`, "a refused request reads no record"},
	} {
		_, err := ledger.ParseReports(strings.NewReader(line(tt.recs)), ledger.Limits{})
		var me *mayfly.Error
		if !errors.As(err, &me) || me.Code != mayfly.Invalid || me.Field != "records" || !strings.Contains(me.Msg, tt.msg) {
			t.Errorf("%s: got %v, want an Invalid error of records with %q", tt.name, err, tt.msg)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
