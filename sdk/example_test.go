package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"

	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

func ExampleVerifier_Verify() {
	// A fake issuer stands in for Mayfly here; a service names the real one.
	iss, err := sdktest.StartIssuer()
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()

	ctx := context.Background()
	v, err := sdk.New(ctx, sdk.Config{
		Issuer:       iss.URL,
		Audience:     sdktest.DefaultAudience,
		ClientID:     sdktest.ClientID,
		ClientSecret: sdktest.ClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	// Until the revocation stream has caught up, every token is refused.
	if err := v.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}

	claims, err := v.Verify(ctx, iss.Token(nil))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", claims.ClientID, claims.Scope)

	// Revoke the client; the stream brings the revocation.
	if err := v.WaitSeq(ctx, iss.Revoke(sdktest.Client, sdktest.ClientID)); err != nil {
		log.Fatal(err)
	}
	_, err = v.Verify(ctx, iss.Token(nil))
	fmt.Println("revoked:", errors.Is(err, sdk.Revoked))
	var e *sdk.Error
	if errors.As(err, &e) {
		fmt.Printf("for the client: %s (%s); for the log: %s\n", e.Code(), e.Reason, e.Detail)
	}
	// Output:
	// accepted: mfc_sdktest read write
	// revoked: true
	// for the client: invalid_token (token revoked); for the log: client mfc_sdktest is revoked
}

func ExampleNewMiddleware() {
	iss, err := sdktest.StartIssuer()
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	ctx := context.Background()
	v, err := sdk.New(ctx, sdk.Config{
		Issuer:       iss.URL,
		Audience:     sdktest.DefaultAudience,
		ClientID:     sdktest.ClientID,
		ClientSecret: sdktest.ClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	if err := v.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}

	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := sdk.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "orders for %s", claims.Principal)
	})
	h := sdk.NewMiddleware(v, "read").Handler(orders)

	for _, auth := range []string{
		"",
		"Bearer " + iss.Token(nil),
		"Bearer " + iss.Token(map[string]any{"scope": "write"}),
		"Bearer " + iss.Token(map[string]any{"aud": "https://elsewhere.example"}),
	} {
		r := httptest.NewRequest("GET", "/orders", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body)
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 401 Bearer realm="https://service.example"
	// 200 orders for prn_sdktest
	// 403 Bearer realm="https://service.example", error="insufficient_scope", error_description="token lacks a required scope", scope="read"
	// 401 Bearer realm="https://service.example", error="invalid_token", error_description="token is for another audience"
}

func ExampleReporter() {
	ctx := context.Background()
	v, err := sdk.New(ctx, sdk.Config{
		Issuer:       "https://auth.example.com",
		Audience:     "https://orders.example.com",
		ClientID:     "mfc_orders", // the service's own client: it reports as itself
		ClientSecret: os.Getenv("MAYFLY_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	// Reports go to the verifier's issuer, as its client, unless
	// ReporterConfig says otherwise.
	rep, err := sdk.NewReporter(v, sdk.ReporterConfig{Service: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer rep.Close(ctx) // sends what is buffered

	mux := http.NewServeMux()
	mux.HandleFunc("GET /customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
		// ... read customer id and the orders 7 and 9 ...
		sdk.Read(r.Context(), "customer", id)
		sdk.Read(r.Context(), "order", 7, 9)
	})
	// Every request the middleware accepts or refuses is reported, with
	// the route ServeMux matched and the records the handler read.
	log.Fatal(http.ListenAndServe(":8080", sdk.NewMiddleware(v, "orders.read").WithReporter(rep).Handler(mux)))
}
