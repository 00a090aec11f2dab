// Command alertlat measures how long a forged token takes from a service to
// an alert: from a request's arrival at a service, which accepts a token
// forged with its key's stolen material and reports it with the SDK's
// reporter, to the forged-token alert's event at a reader of GET
// /v1/alerts/stream. It runs a Mayfly in this process, on the real clock,
// on a temporary directory (SQLite) or the PostgreSQL that -store names,
// and the service beside it, both on loopback:
//
//	alertlat -n 200
//	alertlat -n 200 -store "postgres://..."
//
// One open alert is kept per rule and subject, and forged-token's subject
// is the key, so every sample fires on the same alert: each event is the
// alert's count going up. A rule fires at most once a second for one
// subject, so each request waits -gap (plus up to half of it at random,
// not to keep step with anything periodic) after the last sample's event.
package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bench/internal/benchkit"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

const audience = "https://orders.example"

func main() {
	var (
		n     = flag.Int("n", 200, "samples")
		store = flag.String("store", "", "PostgreSQL URL; empty: SQLite in a temporary directory")
		gap   = flag.Duration("gap", 1100*time.Millisecond, "least wait after a sample's alert before the next request")
		flush = flag.Duration("flush", sdk.DefaultFlushInterval, "the reporter's flush interval")
	)
	flag.Parse()
	if err := run(*n, *store, *gap, *flush); err != nil {
		fmt.Fprintln(os.Stderr, "alertlat:", err)
		os.Exit(1)
	}
}

func run(n int, store string, gap, flush time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "alertlat")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ready := make(chan *server.Server, 1)
	errc := make(chan error, 1)
	go func() {
		cfg := server.Config{DataDir: dir, Addr: "127.0.0.1:0", Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		errc <- server.Run(ctx, cfg, func(s *server.Server, addr string) { ready <- s })
	}()
	var srv *server.Server
	select {
	case srv = <-ready:
	case err := <-errc:
		return err
	}
	base := srv.URL
	if err := benchkit.Loopback(base); err != nil {
		return err
	}
	tok, err := os.ReadFile(dir + "/admin.token")
	if err != nil {
		return err
	}
	adminToken := strings.TrimSpace(string(tok))
	adm := client.New(base, adminToken)

	// The service, with its own client, and a caller whose tokens it takes.
	owner, err := adm.CreatePrincipal(ctx, api.PrincipalRequest{Name: "alice", Kind: mayfly.Human})
	if err != nil {
		return err
	}
	svc, err := adm.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders-svc", Kind: mayfly.Service, Owner: owner.ID})
	if err != nil {
		return err
	}
	svcClient, err := adm.CreateClient(ctx, api.ClientRequest{Name: "orders", Owner: svc.ID, Audiences: []string{audience}})
	if err != nil {
		return err
	}
	caller, err := benchkit.NewClient(ctx, adm, api.ClientRequest{Name: "billing", Audiences: []string{audience}})
	if err != nil {
		return err
	}
	v, err := sdk.New(ctx, sdk.Config{Issuer: base, Audience: audience, ClientID: svcClient.Client.ID, ClientSecret: svcClient.Secret})
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.WaitReady(ctx); err != nil {
		return err
	}
	rep, err := sdk.NewReporter(v, sdk.ReporterConfig{Service: "orders-svc", FlushInterval: flush})
	if err != nil {
		return err
	}
	defer rep.Close(context.Background())
	var arrived atomic.Int64 // when the last request reached the service, Unix ns
	mux := http.NewServeMux()
	mux.HandleFunc("GET /customers", func(w http.ResponseWriter, r *http.Request) {
		sdk.Read(r.Context(), "customer", 17, 42)
	})
	reported := sdk.NewMiddleware(v).WithReporter(rep).Handler(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Store(time.Now().UnixNano())
		reported.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	defer hs.Close()
	svcURL := "http://" + ln.Addr().String() + "/customers"

	kid, key, err := servertest.StealKey(ctx, dir, srv.Store(), "default", time.Now())
	if err != nil {
		return err
	}
	events, err := stream(ctx, base, adminToken)
	if err != nil {
		return err
	}

	fmt.Printf("alertlat: %d samples, store %s, flush interval %v, gap %v to %v\n", n, storeName(store), flush, gap, gap*3/2)
	var lat []time.Duration
	var count int64
	for i := range n {
		forged, err := forge(base, kid, key, caller.Client.ID)
		if err != nil {
			return err
		}
		req, _ := http.NewRequest("GET", svcURL, nil)
		req.Header.Set("Authorization", "Bearer "+forged)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("sample %d: the service answered %s to the forged token", i, res.Status)
		}
		at := time.Unix(0, arrived.Load())
		timeout := time.After(30 * time.Second)
	wait:
		for {
			select {
			case ev := <-events:
				if ev.alert.Rule == mayfly.RuleForgedToken && ev.alert.Subject == "kid:"+kid && ev.alert.Count > count {
					count = ev.alert.Count
					lat = append(lat, ev.at.Sub(at))
					break wait
				}
			case <-timeout:
				return fmt.Errorf("sample %d: no forged-token event after 30 s", i)
			}
		}
		time.Sleep(gap + mrand.N(gap/2))
	}
	slices.Sort(lat)
	fmt.Printf("request at the service to forged-token on the alert stream, %d samples: p50 %v p90 %v p99 %v max %v\n", len(lat),
		round(benchkit.Percentile(lat, 0.50)), round(benchkit.Percentile(lat, 0.90)), round(benchkit.Percentile(lat, 0.99)), round(lat[len(lat)-1]))
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func storeName(dsn string) string {
	if dsn == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}

// forge mints a token such as Mayfly would issue to client, signed with the
// stolen key, as a thief would: Mayfly never issued it.
func forge(issuer, kid string, key crypto.Signer, clientID string) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	jti, err := mayfly.NewJTI(now, rand.Reader)
	if err != nil {
		return "", err
	}
	tok, err := jwt.Signed(sig).Claims(map[string]any{
		"iss": issuer, "sub": clientID, "aud": audience, "client_id": clientID, "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}).Serialize()
	if err != nil {
		return "", err
	}
	// Low S, as Mayfly signs: the SDK takes tokens in canonical form only.
	cut := strings.LastIndexByte(tok, '.') + 1
	s, err := base64.RawURLEncoding.DecodeString(tok[cut:])
	if err != nil {
		return "", err
	}
	canon.LowS(s)
	return tok[:cut] + base64.RawURLEncoding.EncodeToString(s), nil
}

type event struct {
	alert mayfly.Alert
	at    time.Time // when the reader had it
}

// stream reads the alert stream, stamping each event as it is read.
func stream(ctx context.Context, base, token string) (<-chan event, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+api.AlertStreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, errors.New("alert stream: " + res.Status)
	}
	out := make(chan event, 1000)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				at := time.Now()
				var a mayfly.Alert
				if json.Unmarshal([]byte(data), &a) == nil {
					out <- event{a, at}
				}
			}
		}
	}()
	return out, nil
}
