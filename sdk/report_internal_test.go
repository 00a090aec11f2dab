package sdk

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkReportEncode is the flusher's share of a report that read 100
// records: its JSON line, off the request's path.
func BenchmarkReportEncode(b *testing.B) {
	e := &entry{digest: "AAAAAAAAAAAAAAAAAAAAAA", claims: Claims{Issuer: "https://auth.example.com", Subject: "mfc_orders",
		ID: "01JQ7Z5X2M4N6P8R0T2V4X6Z8B", ClientID: "mfc_orders", Principal: "prn_orders", KeyID: "k-2031-05-06",
		IssuedAt: time.Unix(1_900_000_000, 0), Expiry: time.Unix(1_900_000_600, 0)}}
	s := getSlab()
	for i := range uint64(100) {
		s.add("customer", []uint64{1<<40 + i*977})
	}
	rep := report{when: time.Now().UnixNano(), e: e, method: "GET", route: "GET /customers/{id}", ip: netip.MustParseAddr("192.0.2.7")}
	enc := encoder{service: []byte(`,"service":"orders"`)}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = enc.appendReport(buf[:0], &rep, s)
	}
	b.SetBytes(int64(len(buf)))
}
