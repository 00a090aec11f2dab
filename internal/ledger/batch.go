package ledger

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/mayflyhq/mayfly"
)

// EncodeBatch encodes verified reports for the ingest journal, which
// keeps each accepted batch until it is in the ledger. A raw token is
// never encoded: only the claims and digest Mayfly took from it.
func EncodeBatch(reports []mayfly.LedgerReport) ([]byte, error) {
	ws := make([]batchReport, len(reports))
	for i := range reports {
		r := &reports[i]
		ws[i] = batchReport{r.Time, r.Service, r.SourceIP, r.Method, r.Route, r.Records, r.Refused,
			r.JTI, r.KID, r.Issuer, r.Subject, r.ClientID, r.IssuedAt, r.Expires, r.Digest, r.Check}
	}
	return json.Marshal(ws)
}

// DecodeBatch decodes what EncodeBatch encoded; anything else is an
// error, never a panic.
func DecodeBatch(b []byte) ([]mayfly.LedgerReport, error) {
	var ws []batchReport
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, mayfly.E("ledger.DecodeBatch", fmt.Errorf("a journal batch does not decode: %w", err))
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
