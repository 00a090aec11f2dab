package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// BenchmarkSSFPush measures a Shared Signals push on loopback: from the
// acknowledgement of a token revocation by the admin API to the receiver
// holding the session-revoked SET. It reports p50 and p99.
func BenchmarkSSFPush(b *testing.B) {
	e := servertest.New(b, func(c *serverConfig) { c.SSFAllowHTTP = true })
	got := make(chan string, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		if jti := benchSession(string(body)); jti != "" {
			got <- jti
		}
	}))
	defer recv.Close()
	c, secret := e.NewClient(api.ClientRequest{Name: "svc", Owner: e.Human("owner")})
	req, _ := http.NewRequest("POST", e.URL+api.SSFConfigPath, strings.NewReader(
		`{"delivery":{"method":"`+mayfly.DeliveryPush+`","endpoint_url":"`+recv.URL+`"}}`))
	req.Header.Set("Authorization", "Bearer "+e.Token)
	if r := e.Do(req); r.Status != 201 {
		b.Fatalf("create stream: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		var cl struct {
			ID string `json:"jti"`
		}
		benchClaims(e.IssueToken(c.ID, secret, nil), &cl)
		b.StartTimer()
		start := time.Now()
		if _, err := e.Admin.RevokeToken(ctx, cl.ID, "bench"); err != nil {
			b.Fatal(err)
		}
		for jti := range got {
			if jti == cl.ID {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// benchSession is the session jti a session-revoked SET names, read without
// verifying: the receiver tests check signatures; this one only times.
func benchSession(set string) string {
	var cl struct {
		SubID struct {
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
		} `json:"sub_id"`
	}
	benchClaims(set, &cl)
	return cl.SubID.Session.ID
}

// benchClaims decodes a compact JWS's claims without verifying them.
func benchClaims(jws string, v any) {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		json.Unmarshal(raw, v)
	}
}

// BenchmarkSSFConvert measures turning revocations into queued SETs: each
// op is 100 token revocations fanned out to 10 poll streams, 1,000 SETs
// made, numbered and written durably by one round.
func BenchmarkSSFConvert(b *testing.B) {
	e := servertest.New(b)
	var ids []string
	for range 10 {
		req, _ := http.NewRequest("POST", e.URL+api.SSFConfigPath, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+e.Token)
		r := e.Do(req)
		if r.Status != 201 {
			b.Fatalf("create stream: %d %s", r.Status, r.Body)
		}
		ids = append(ids, r.JSON()["stream_id"].(string))
	}
	ctx := context.Background()
	n := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		revs := make([]*mayfly.Revocation, 100)
		for i := range revs {
			n++
			revs[i] = &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "bench-jti-" + strconv.Itoa(n), Until: e.Clock.Now().Add(time.Hour)}
		}
		if err := e.Server.Audit.Update(ctx, func(tx mayfly.Tx) error { return e.Server.Revoker.Revoke(tx, revs...) }); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := e.Server.SSF.Round(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		// Receivers keep up: the queues stay short, as in service.
		for _, id := range ids {
			sets, err := e.Server.Store().PendingSETs(ctx, id, e.Clock.Now().Add(time.Hour), 0)
			if err != nil || len(sets) != 100 {
				b.Fatalf("stream %s queued %d SETs, %v; want 100", id, len(sets), err)
			}
			jtis := make([]string, len(sets))
			for i, q := range sets {
				jtis[i] = q.JTI
			}
			if _, err := e.Server.Store().AckSETs(ctx, id, jtis); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "SETs/s")
}
