package sdk

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/mayflyhq/mayfly/sdk/dpop"
)

// Middleware admits requests that carry a valid access token, and the
// scopes it requires, in an RFC 6750 Authorization: Bearer header, or,
// with WithDPoP, a DPoP-bound token (RFC 9449) with its proof.
type Middleware struct {
	v      *Verifier
	scopes []string
	realm  string
	rep    *Reporter // nil: no reports
	// dpop checks the proofs of DPoP-bound tokens for requests to base;
	// nil: every bound token is refused.
	dpop *dpop.Checker
	base string
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

// WithDPoP returns a copy of m that also admits DPoP-bound tokens (RFC
// 9449): sent as "Authorization: DPoP <token>" with one DPoP header, a
// proof that c accepts for the request's method, for base followed by the
// request's path, and for the token (ath), signed by the key whose
// thumbprint is the token's cnf.jkt. base is this service's URL as its
// clients address it, behind any proxy: "https://orders.example.com", or
// with the path prefix a proxy strips. Share one c among the middlewares
// of a process, so that it catches a proof replayed to any of them.
//
// Without WithDPoP a middleware refuses every bound token. With it or
// without, a bound token sent as a bearer token is refused, and so is an
// unbound token sent with the DPoP scheme.
func (m *Middleware) WithDPoP(base string, c *dpop.Checker) (*Middleware, error) {
	if c == nil {
		return nil, errors.New("sdk: WithDPoP needs a dpop.Checker")
	}
	if _, err := dpop.NormalURL(base); err != nil {
		return nil, errors.New("sdk: WithDPoP: base must be an absolute http or https URL: " + err.Error())
	}
	if strings.ContainsAny(base, "?#") {
		return nil, errors.New("sdk: WithDPoP: base has a query or a fragment")
	}
	cp := *m
	cp.dpop, cp.base = c, strings.TrimSuffix(base, "/")
	return &cp, nil
}

// Check verifies the request's access token, and its DPoP proof if the
// token is bound to a key, and returns its claims. A Claims with a JKT
// came with a valid proof by that key. Its errors are *Error values.
func (m *Middleware) Check(r *http.Request) (*Claims, error) {
	raw, isDPoP, berr := m.credential(r)
	if berr != nil {
		return nil, berr
	}
	c, err := m.v.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if err := m.possession(r, c, raw, isDPoP); err != nil {
		return nil, err
	}
	if err := m.scopeErr(c); err != nil {
		return nil, err
	}
	return c, nil
}

// possession checks that a bound token came with the DPoP scheme and a
// proof by its key for this request, and that an unbound one did not
// claim the DPoP scheme. A bearer token costs a comparison.
func (m *Middleware) possession(r *http.Request, c *Claims, raw string, isDPoP bool) *Error {
	switch {
	case !isDPoP && c.JKT == "":
		return nil
	case !isDPoP:
		return refuse(BoundToken, "a DPoP-bound token sent as a bearer token")
	case c.JKT == "":
		return refuse(NotBound, "a bearer token sent with the DPoP scheme")
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return refuse(BadProof, "not exactly one DPoP header")
	}
	p, err := m.dpop.Check(proofs[0], dpop.Request{Method: r.Method, URL: m.base + requestPath(r), AccessToken: raw})
	if err != nil {
		return &Error{Reason: BadProof, Err: err}
	}
	if p.JKT != c.JKT {
		return refuse(BadProof, "the proof's key is not the one the token is bound to")
	}
	return nil
}

// requestPath is the path the client asked for: from the request line, which
// http.StripPrefix leaves alone, when it has the usual form.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	return r.URL.EscapedPath()
}

func (m *Middleware) scopeErr(c *Claims) *Error {
	for _, s := range m.scopes {
		if !c.HasScope(s) {
			return refuse(InsufficientScope, "scope "+s+" is required")
		}
	}
	return nil
}

// credential returns the token of the request's one Authorization header,
// and whether its scheme is DPoP rather than Bearer. Tokens in the query or
// the body (RFC 6750 sections 2.2 and 2.3) are not accepted, nor the DPoP
// scheme by a middleware without WithDPoP.
func (m *Middleware) credential(r *http.Request) (string, bool, *Error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", false, refuse(NoToken, "")
	case len(hs) > 1:
		return "", false, refuse(BadRequest, "more than one Authorization header")
	}
	scheme, tok, _ := strings.Cut(hs[0], " ")
	isDPoP := false
	switch {
	case strings.EqualFold(scheme, "Bearer"):
	case strings.EqualFold(scheme, "DPoP") && m.dpop != nil:
		isDPoP = true
	case strings.EqualFold(scheme, "DPoP"):
		return "", false, refuse(BadProof, "this service does not accept DPoP-bound tokens")
	default:
		return "", false, refuse(NoToken, "the Authorization scheme is not Bearer or DPoP")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false, refuse(BadRequest, "the credential is empty or has spaces")
	}
	return tok, isDPoP, nil
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
	raw, isDPoP, berr := m.credential(r)
	if berr != nil {
		m.refuse(w, r, berr)
		return
	}
	now := m.v.cfg.Clock()
	e, err := m.v.lookup(r.Context(), raw, now)
	if err == nil {
		err = m.possession(r, &e.claims, raw, isDPoP)
	}
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
// challenge (RFC 9449's for DPoP), 400 for a malformed header, 403 for a
// missing scope. The reason goes to the client; the detail to the log.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, err error) {
	reason := reasonOf(err)
	m.v.log.Debug("sdk: request refused", "method", r.Method, "path", r.URL.Path, "err", err)
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	challenge := "Bearer realm=" + quote(m.realm)
	if strings.EqualFold(scheme, "DPoP") || reason == BadProof || reason == BoundToken {
		challenge = "DPoP realm=" + quote(m.realm) + ", algs=" + quote(strings.Join(dpop.Algs, " "))
	} else if reason == NoToken && m.dpop != nil {
		// Either scheme will do (RFC 9449 section 7.1).
		w.Header().Add("WWW-Authenticate", "DPoP realm="+quote(m.realm)+", algs="+quote(strings.Join(dpop.Algs, " ")))
	}
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
	w.Header().Add("WWW-Authenticate", challenge)
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
