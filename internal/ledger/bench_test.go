package ledger

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
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
