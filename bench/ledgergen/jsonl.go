package ledgergen

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
)

// AppendJSONL appends r as one line of the JSON Lines that POST
// /v1/ledger/events reads, its line break included.
func AppendJSONL(b []byte, r *mayfly.LedgerReport) []byte {
	str := func(name, v string) {
		if v != "" {
			b = append(b, `,"`+name+`":`...)
			b = strconv.AppendQuote(b, v) // the generator's text is ASCII
		}
	}
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	str("service", r.Service)
	str("source_ip", r.SourceIP.String())
	str("method", r.Method)
	str("route", r.Route)
	if len(r.Records) > 0 {
		b = append(b, `,"records":{`...)
		for i, ns := range slices.Sorted(maps.Keys(r.Records)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, ns)
			b = append(b, ":["...)
			for j, id := range r.Records[ns] {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, id, 10)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if r.Token != "" {
		str("token", string(r.Token))
	} else {
		str("jti", r.JTI)
		str("kid", r.KID)
		str("iss", r.Issuer)
		str("sub", r.Subject)
		str("client_id", r.ClientID)
		for _, d := range []struct {
			name string
			t    time.Time
		}{{"iat", r.IssuedAt}, {"exp", r.Expires}} {
			if !d.t.IsZero() {
				b = append(b, `,"`+d.name+`":`...)
				b = strconv.AppendInt(b, d.t.Unix(), 10)
			}
		}
		str("digest", r.Digest)
	}
	return append(b, "}\n"...)
}
