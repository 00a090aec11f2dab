package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

// benchBatch is a batch of lines reports, each with its claims and ids
// scattered record IDs below 2^36 in one namespace, from 1,000 tokens in
// one minute; as a bitmap if bitmap.
func benchBatch(lines, ids int, bitmap bool) []byte {
	var in bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	s := make([]string, ids)
	for i := range lines {
		var recs string
		if bitmap {
			rb := roaring64.New()
			for range ids {
				rb.Add(rng.Uint64N(1 << 36))
			}
			rb.RunOptimize()
			b, _ := rb.ToPortableBytes()
			recs = `"` + base64.StdEncoding.EncodeToString(b) + `"`
		} else {
			for j := range s {
				s[j] = fmt.Sprint(rng.Uint64N(1 << 36))
			}
			recs = "[" + strings.Join(s, ",") + "]"
		}
		fmt.Fprintf(&in, `{"time":%q,"service":"billing","source_ip":"10.0.%d.%d","method":"GET","route":"/customers/{id}","jti":"01jz%022d","digest":"AAAAAAAAAAAAAAAAAAAAAA","kid":"k1","client_id":"cli","sub":"svc","iat":1900000000,"exp":1900000900,"records":{"customer":%s}}`+"\n",
			t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i/256%256, i%256, i%1000, recs)
	}
	return in.Bytes()
}

// benchParse measures parse on batches of 10 and 1,000 IDs a line.
func benchParse(b *testing.B, parse func(io.Reader, Limits) ([]mayfly.LedgerReport, error)) {
	for _, c := range []struct {
		lines, ids int
		bitmap     bool
	}{{10_000, 10, false}, {1_000, 1_000, false}, {1_000, 1_000, true}} {
		name := fmt.Sprintf("ids=%d", c.ids)
		if c.bitmap {
			name += "/bitmap"
		}
		b.Run(name, func(b *testing.B) {
			in := benchBatch(c.lines, c.ids, c.bitmap)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			reads := 0
			for b.Loop() {
				reps, err := parse(bytes.NewReader(in), Limits{})
				if err != nil {
					b.Fatal(err)
				}
				for i := range reps {
					for _, ids := range reps[i].Records {
						reads += len(ids)
					}
				}
			}
			b.ReportMetric(float64(reads)/b.Elapsed().Seconds(), "record-reads/s")
			b.ReportMetric(float64(b.N*c.lines)/b.Elapsed().Seconds(), "reports/s")
		})
	}
}

// BenchmarkLedgerParseReports: the single-pass decoder.
func BenchmarkLedgerParseReports(b *testing.B) { benchParse(b, ParseReports) }

// BenchmarkLedgerParseReportsReference: the decoder it replaced, on the
// same batches.
func BenchmarkLedgerParseReportsReference(b *testing.B) { benchParse(b, referenceParseReports) }

// benchReports parses benchBatch's reports, as the ingest journals them.
func benchReports(b *testing.B, lines, ids int) []mayfly.LedgerReport {
	reps, err := ParseReports(bytes.NewReader(benchBatch(lines, ids, false)), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	return reps
}

// BenchmarkLedgerBatch: the journal's encoding of a batch, and its JSON
// encoding before it.
func BenchmarkLedgerBatch(b *testing.B) {
	for _, c := range []struct{ lines, ids int }{{10_000, 10}, {1_000, 1_000}} {
		reps := benchReports(b, c.lines, c.ids)
		for _, e := range []struct {
			name   string
			encode func([]mayfly.LedgerReport) ([]byte, error)
			decode func([]byte) ([]mayfly.LedgerReport, error)
		}{{"binary", EncodeBatch, DecodeBatch}, {"json", jsonEncodeBatch, jsonDecodeBatch}} {
			enc, _ := e.encode(reps)
			name := fmt.Sprintf("ids=%d/%s", c.ids, e.name)
			b.Run(name+"/encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.encode(reps); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc))/float64(c.lines), "bytes/report")
				b.ReportMetric(float64(c.lines*c.ids*b.N)/b.Elapsed().Seconds(), "record-reads/s")
			})
			b.Run(name+"/decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.decode(enc); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(c.lines*c.ids*b.N)/b.Elapsed().Seconds(), "record-reads/s")
			})
		}
	}
}

// TestLedgerBatchIDs measures what a namespace's IDs take in the journal
// as gaps and as a bitmap, for the choice EncodeBatch makes between them:
// run with -v.
func TestLedgerBatchIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		name string
		ids  func() []uint64
	}{
		{"10 scattered below 2^36", func() []uint64 { return randIDs(rng, 10, 1<<36) }},
		{"1,000 scattered below 2^36", func() []uint64 { return randIDs(rng, 1000, 1<<36) }},
		{"1,000 scattered below 2^20", func() []uint64 { return randIDs(rng, 1000, 1<<20) }},
		{"1,000 in 10 runs", func() []uint64 {
			var ids []uint64
			for r := range 10 {
				for i := range 100 {
					ids = append(ids, uint64(r)<<30+uint64(i))
				}
			}
			return ids
		}},
	} {
		ids := c.ids()
		rb := roaring64.BitmapOf(ids...)
		rb.RunOptimize()
		bm, _ := rb.ToPortableBytes()
		gaps := 0
		for i, id := range ids {
			if i > 0 {
				id -= ids[i-1]
			}
			gaps += len(binary.AppendUvarint(nil, id))
		}
		enc, _ := EncodeBatch([]mayfly.LedgerReport{{JTI: "j", Records: map[string][]uint64{"a": ids}}})
		t.Logf("%-28s gaps %6d bytes, bitmap %6d bytes; encoded %6d", c.name, gaps, len(bm), len(enc))
		if len(enc) > min(gaps, len(bm))+24 { // the report itself takes 22
			t.Errorf("%s: encoded in %d bytes, more than the lesser of %d and %d", c.name, len(enc), gaps, len(bm))
		}
	}
}

func randIDs(rng *rand.Rand, n int, below uint64) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = rng.Uint64N(below)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// jsonEncodeBatch and jsonDecodeBatch are the journal's encoding before
// the binary one, to compare.
func jsonEncodeBatch(reports []mayfly.LedgerReport) ([]byte, error) {
	ws := make([]batchReport, len(reports))
	for i := range reports {
		r := &reports[i]
		ws[i] = batchReport{r.Time, r.Service, r.SourceIP, r.Method, r.Route, r.Records, r.Refused,
			r.JTI, r.KID, r.Issuer, r.Subject, r.ClientID, r.IssuedAt, r.Expires, r.Digest, r.Check}
	}
	return json.Marshal(ws)
}

func jsonDecodeBatch(b []byte) ([]mayfly.LedgerReport, error) {
	var ws []batchReport
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, err
	}
	reports := make([]mayfly.LedgerReport, len(ws))
	for i, w := range ws {
		reports[i] = mayfly.LedgerReport{Time: w.Time, Service: w.Service, SourceIP: w.SourceIP, Method: w.Method,
			Route: w.Route, Records: w.Records, Refused: w.Refused, JTI: w.JTI, KID: w.KID, Issuer: w.Issuer,
			Subject: w.Subject, ClientID: w.ClientID, IssuedAt: w.IssuedAt, Expires: w.Expires, Digest: w.Digest, Check: w.Check}
	}
	return reports, nil
}

// batchReport is a report as the journal keeps it.
type batchReport struct {
	Time     time.Time           `json:"t"`
	Service  string              `json:"s"`
	SourceIP netip.Addr          `json:"ip"`
	Method   string              `json:"m,omitempty"`
	Route    string              `json:"r,omitempty"`
	Records  map[string][]uint64 `json:"rec,omitempty"`
	Refused  bool                `json:"x,omitempty"`
	JTI      string              `json:"jti,omitempty"`
	KID      string              `json:"kid,omitempty"`
	Issuer   string              `json:"iss,omitempty"`
	Subject  string              `json:"sub,omitempty"`
	ClientID string              `json:"cid,omitempty"`
	IssuedAt time.Time           `json:"iat,omitzero"`
	Expires  time.Time           `json:"exp,omitzero"`
	Digest   string              `json:"d,omitempty"`
	Check    mayfly.LedgerCheck  `json:"c,omitempty"`
}

// BenchmarkLedgerDeltas maps parsed batches to minute bucket deltas: 1,000
// tokens in one minute.
func BenchmarkLedgerDeltas(b *testing.B) {
	for _, c := range []struct{ lines, ids int }{{10_000, 10}, {1_000, 1_000}} {
		b.Run(fmt.Sprintf("ids=%d", c.ids), func(b *testing.B) {
			reps := benchReports(b, c.lines, c.ids)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Deltas(reps, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.lines*c.ids*b.N)/b.Elapsed().Seconds(), "record-reads/s")
		})
	}
	// As the ingest gathers a window's batches: 10 reports a bucket.
	b.Run("ids=1000/10-a-bucket", func(b *testing.B) {
		reps := benchReports(b, 1_000, 1_000)
		for i := range reps {
			reps[i].JTI = reps[i%100].JTI
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Deltas(reps, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(1_000*1_000*b.N)/b.Elapsed().Seconds(), "record-reads/s")
	})
}
