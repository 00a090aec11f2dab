package sdk

import (
	"context"
	"net/http"
	"strings"
)

// Middleware admits requests that carry a valid access token, and the
// scopes it requires, in an RFC 6750 Authorization: Bearer header.
type Middleware struct {
	v      *Verifier
	scopes []string
	realm  string
	rep    *Reporter // nil: no reports
}

// NewMiddleware returns a Middleware that verifies tokens with v and
// requires every one of scopes. The realm it names in challenges is v's
// audience.
func NewMiddleware(v *Verifier, scopes ...string) *Middleware {
	return &Middleware{v: v, scopes: scopes, realm: v.cfg.Audience}
}

// WithReporter returns a copy of m whose Handler reports every request
// it accepts or refuses to rep, with the records its handler read (see
// Read). Requests without a token, or whose token names no jti, are not
// reported: they name no token for the ledger to file them under.
func (m *Middleware) WithReporter(rep *Reporter) *Middleware {
	c := *m
	c.rep = rep
	return &c
}

// Check verifies the request's bearer token and returns its claims. Its
// errors are *Error values.
func (m *Middleware) Check(r *http.Request) (*Claims, error) {
	raw, berr := bearer(r)
	if berr != nil {
		return nil, berr
	}
	c, err := m.v.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if err := m.scopeErr(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (m *Middleware) scopeErr(c *Claims) *Error {
	for _, s := range m.scopes {
		if !c.HasScope(s) {
			return refuse(InsufficientScope, "scope "+s+" is required")
		}
	}
	return nil
}

// bearer returns the token of the request's one Authorization header.
// Tokens in the query or the body (RFC 6750 sections 2.2 and 2.3) are not
// accepted.
func bearer(r *http.Request) (string, *Error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", refuse(NoToken, "")
	case len(hs) > 1:
		return "", refuse(BadRequest, "more than one Authorization header")
	}
	scheme, tok, _ := strings.Cut(hs[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", refuse(NoToken, "the Authorization scheme is not Bearer")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", refuse(BadRequest, "the Bearer credential is empty or has spaces")
	}
	return tok, nil
}

// Handler returns a handler that serves h the requests Check admits, with
// the claims in their context (see ClaimsFrom), and answers the rest itself:
// 401 with an RFC 6750 challenge, 400 for a malformed header, 403 for a
// missing scope. The reason goes to the client; the detail to the log.
func (m *Middleware) Handler(h http.Handler) http.Handler {
	if m.rep != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serveReported(w, r, h) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := m.Check(r)
		if err == nil {
			h.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
			return
		}
		m.refuse(w, r, err)
	})
}

// serveReported is Handler with a Reporter: Check, then a report of the
// request, accepted or refused. The token's claims and digest come from
// the verifier's cache entry, so a token seen before costs no hashing.
func (m *Middleware) serveReported(w http.ResponseWriter, r *http.Request, h http.Handler) {
	raw, berr := bearer(r)
	if berr != nil {
		m.refuse(w, r, berr)
		return
	}
	now := m.v.cfg.Clock()
	e, err := m.v.lookup(r.Context(), raw, now)
	if err == nil {
		err = m.scopeErr(&e.claims)
	}
	if err != nil {
		if e == nil {
			e = unverified(raw)
		}
		if e != nil {
			m.rep.add(report{when: now.UnixNano(), e: e, method: r.Method, route: r.Pattern, ip: m.rep.sourceIP(r), refused: true}, nil)
		}
		m.refuse(w, r, err)
		return
	}
	st := &request{claims: e.claims, e: e, rep: m.rep}
	r2 := r.WithContext(context.WithValue(r.Context(), claimsKey{}, st))
	// Deferred, so that a handler that panics is reported with what it read.
	defer func() {
		// A ServeMux below the middleware sets r2.Pattern as it routes.
		m.rep.add(report{when: now.UnixNano(), e: e, method: r.Method, route: r2.Pattern, ip: m.rep.sourceIP(r)}, st.finish())
	}()
	h.ServeHTTP(w, r2)
}

// refuse answers a request the middleware refused: 401 with an RFC 6750
// challenge, 400 for a malformed header, 403 for a missing scope. The
// reason goes to the client; the detail to the log.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, err error) {
	reason := reasonOf(err)
	m.v.log.Debug("sdk: request refused", "method", r.Method, "path", r.URL.Path, "err", err)
	challenge := "Bearer realm=" + quote(m.realm)
	status := http.StatusUnauthorized
	if code := reason.Code(); code != "" {
		challenge += ", error=" + quote(code) + ", error_description=" + quote(string(reason))
		switch code {
		case "invalid_request":
			status = http.StatusBadRequest
		case "insufficient_scope":
			status = http.StatusForbidden
			challenge += ", scope=" + quote(strings.Join(m.scopes, " "))
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	http.Error(w, http.StatusText(status), status)
}

// quote makes an RFC 9110 quoted-string, leaving out what RFC 6750 does
// not allow in its parameters (control characters, non-ASCII) and
// escaping quotes and backslashes.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
