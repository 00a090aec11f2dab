package ssf_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/ssf"
)

// TestPushLogRedactsEndpointURL: receivers that echo the request, as
// common frameworks do, put the endpoint URL's path or a query value in
// their answer; the log line that quotes the answer holds neither.
func TestPushLogRedactsEndpointURL(t *testing.T) {
	// Receivers that echo the request as common frameworks do.
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hooks/") { // Express-style 404
			w.WriteHeader(404)
			fmt.Fprintf(w, "Cannot POST %s", r.URL.Path)
			return
		}
		w.WriteHeader(401) // echo just the query value, decoded
		fmt.Fprintf(w, `{"error":"invalid api key %s"}`, r.URL.Query().Get("key"))
	}))
	defer rcv.Close()
	env := apptest.New(t, func(c *app.Config) { c.SSFAllowHTTP = true })
	ctx := env.Admin()
	admin := ssf.Caller{Admin: true, Actor: "test"}
	for _, u := range []string{rcv.URL + "/hooks/T0001/B0001/PATHSECRETxyz", rcv.URL + "/events?key=QUERY%2BSECRET"} {
		if _, err := env.App.SSF.Create(ctx, admin, ssf.Spec{Method: mayfly.DeliveryPush, EndpointURL: u}); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("alice")})
	if _, err := env.App.Identity.RevokeClient(ctx, c.ID, "compromised"); err != nil {
		t.Fatal(err)
	}
	if err := env.App.SSF.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(env.Log.String(), "\n") {
		if strings.Contains(l, "PATHSECRETxyz") || strings.Contains(l, "QUERY+SECRET") {
			t.Errorf("log line holds a secret of the endpoint URL:\n%s", l)
		}
	}
}
