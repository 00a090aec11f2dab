package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
)

// testJWS is a compact JWS in canonical form; its signature is not one.
func testJWS(jti string) string {
	b := base64.RawURLEncoding
	return b.EncodeToString([]byte(`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`)) + "." +
		b.EncodeToString([]byte(`{"iss":"https://mayfly.example","client_id":"mfc_a","jti":"`+jti+`","exp":1767000000}`)) + "." +
		b.EncodeToString(make([]byte, 64))
}

func TestLogMapping(t *testing.T) {
	tok := testJWS("j1")
	nginx := []string{"records.customer=customer_ids", "records.order=order_ids"}
	tests := []struct {
		name    string
		preset  string
		pairs   []string
		service string
		line    string
		want    string // the report line, or
		err     string // what the error says
		member  string // and the member it names
	}{{
		name:   "nginx time_local, Bearer stripped, route without its query, records from an array and a string",
		preset: "nginx", pairs: nginx, service: "orders",
		line: `{"time_local":"02/Jan/2026:04:04:05 +0100","remote_addr":"203.0.113.9","request_method":"GET","uri":"/customers/17?x=secret",` +
			`"http_authorization":"Bearer ` + tok + `","customer_ids":[42,17,42],"order_ids":"9,18446744073709551615"}`,
		want: `{"time":"2026-01-02T03:04:05Z","service":"orders","source_ip":"203.0.113.9","method":"GET","route":"/customers/17",` +
			`"records":{"customer":[17,42],"order":[9,18446744073709551615]},"token":"` + tok + `"}`,
	}, {
		name:   "envoy: address with port, RFC 3339 with a fraction, lower-case bearer",
		preset: "envoy", service: "billing",
		line: `{"start_time":"2026-01-02T03:04:05.678Z","downstream_remote_address":"[2001:db8::1]:443","method":"POST","path":"/pay","authorization":"bearer ` + tok + `"}`,
		want: `{"time":"2026-01-02T03:04:05.678Z","service":"billing","source_ip":"2001:db8::1","method":"POST","route":"/pay","token":"` + tok + `"}`,
	}, {
		name:  "claims by dotted paths, Unix milliseconds, service from the log, refused from a status",
		pairs: []string{"time=ts", "service=upstream.name", "source_ip=client.ip", "jti=jwt.jti", "client_id=jwt.cid", "iat=jwt.iat", "exp=jwt.exp", "refused=status", "records.customer=ids"},
		line:  `{"ts":1767323045123,"upstream":{"name":"crm"},"client":{"ip":"::ffff:10.0.0.1"},"jwt":{"jti":"abc","cid":"mfc_x","iat":"1767323000","exp":1767323300},"status":403,"ids":[1]}`,
		want:  `{"time":"2026-01-02T03:04:05.123Z","service":"crm","source_ip":"10.0.0.1","refused":true,"jti":"abc","client_id":"mfc_x","iat":1767323000,"exp":1767323300}`,
	}, {
		name:  "a field whose name holds a dot is found by that name; Unix seconds; --service when the log names none",
		pairs: []string{"time=t", "service=svc", "source_ip=x.forwarded", "jti=jti"}, service: "fallback",
		line: `{"t":1767323045,"svc":"-","x.forwarded":"198.51.100.7, 10.0.0.1","jti":"j"}`,
		want: `{"time":"2026-01-02T03:04:05Z","service":"fallback","source_ip":"198.51.100.7","jti":"j"}`,
	}, {
		name: "nginx $msec", pairs: []string{"time=msec", "source_ip=ip", "jti=jti"}, service: "s",
		line: `{"msec":"1767323045.250","ip":"192.0.2.1","jti":"j"}`,
		want: `{"time":"2026-01-02T03:04:05.25Z","service":"s","source_ip":"192.0.2.1","jti":"j"}`,
	}, {
		name: "no token", preset: "nginx", service: "orders",
		line: `{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"203.0.113.9","http_authorization":"-"}`,
		err:  "token (field http_authorization): missing: the line names no token", member: "token",
	}, {
		name: "not a JWS, and the value is never quoted", preset: "nginx", service: "orders",
		line: `{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"203.0.113.9","http_authorization":"Basic c2VjcmV0LXZhbHVl"}`,
		err:  "token (field http_authorization): not a compact JWS", member: "token",
	}, {
		name: "bad time", preset: "nginx", service: "orders",
		line: `{"time_local":"yesterday","remote_addr":"203.0.113.9","http_authorization":"Bearer ` + tok + `"}`,
		err:  "time (field time_local): not a time", member: "time",
	}, {
		name: "bad address", preset: "nginx", service: "orders",
		line: `{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"unix:","http_authorization":"Bearer ` + tok + `"}`,
		err:  "source_ip (field remote_addr): not an IP address", member: "source_ip",
	}, {
		name: "bad record ID", preset: "nginx", pairs: nginx, service: "orders",
		line: `{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"203.0.113.9","http_authorization":"Bearer ` + tok + `","customer_ids":[1,-2]}`,
		err:  "records.customer (field customer_ids): a record ID that is not an integer", member: "records.customer",
	}, {
		name: "a field of the wrong type", preset: "nginx", service: "orders",
		line: `{"time_local":{"a":1},"remote_addr":"203.0.113.9","http_authorization":"Bearer ` + tok + `"}`,
		err:  "time (field time_local): not a string or a number", member: "time",
	}, {
		name: "not JSON", preset: "nginx", service: "orders",
		line: `203.0.113.9 - - [02/Jan/2026:03:04:05 +0000] "GET / HTTP/1.1" 200`,
		err:  "not a JSON object",
	}, {
		name: "a method that is not one", preset: "nginx", service: "orders",
		line: `{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"203.0.113.9","request_method":"GET /x","http_authorization":"Bearer ` + tok + `"}`,
		err:  "method (field request_method): not an HTTP method", member: "method",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMapping(tt.preset, tt.pairs, tt.service)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.mapLine([]byte(tt.line))
			if tt.err != "" {
				if err == nil {
					t.Fatalf("mapped %s; want an error", got)
				}
				if msg := mayfly.ErrorMessage(err); !strings.Contains(msg, tt.err) || strings.Contains(msg, "c2VjcmV0") {
					t.Errorf("error %q; want it to say %q", msg, tt.err)
				}
				var me *mayfly.Error
				if errors.As(err, &me); me == nil || me.Code != mayfly.Invalid || me.Field != tt.member {
					t.Errorf("error %#v; want Invalid, field %q", err, tt.member)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s is not JSON", got)
			}
		})
	}
}

func TestParseMappingRefuses(t *testing.T) {
	tests := []struct {
		preset  string
		pairs   []string
		service string
		err     string
	}{
		{"apache", nil, "s", `no preset "apache": there are envoy and nginx`},
		{"nginx", []string{"time"}, "s", `"time" is not MEMBER=FIELD`},
		{"nginx", []string{"user=remote_user"}, "s", `no report member "user"`},
		{"nginx", []string{"records.Customer=ids"}, "s", "records.Customer: a namespace is 1 to 64 of a-z"},
		{"nginx", nil, "", "no service: map service=FIELD or name one with --service"},
		{"", []string{"time=t", "jti=j"}, "s", "no field for source_ip"},
		{"", []string{"source_ip=a", "jti=j"}, "s", "no field for time"},
		{"", []string{"time=t", "source_ip=a"}, "s", "no field for the token"},
		{"nginx", []string{"token=http_authorization", "jti=jwt_jti"}, "s", "map token or the token's claims (jti), not both"},
	}
	for _, tt := range tests {
		_, err := parseMapping(tt.preset, tt.pairs, tt.service)
		if err == nil || !strings.Contains(mayfly.ErrorMessage(err), tt.err) || mayfly.ErrorCode(err) != mayfly.Invalid {
			t.Errorf("parseMapping(%q, %q, %q) = %v; want Invalid %q", tt.preset, tt.pairs, tt.service, err, tt.err)
		}
	}
	// A preset's token gives way to claims mapped in its place.
	m, err := parseMapping("nginx", []string{"jti=jwt_jti"}, "s")
	if err != nil || m.Fields["token"] != "" || m.Fields["jti"] != "jwt_jti" {
		t.Errorf("nginx with jti=jwt_jti: %v, %v; want the jti mapped and no token", m, err)
	}
}
