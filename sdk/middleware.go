package sdk

import (
	"net/http"
	"strings"
)

// Middleware admits requests that carry a valid access token, and the
// scopes it requires, in an RFC 6750 Authorization: Bearer header.
type Middleware struct {
	v      *Verifier
	scopes []string
	realm  string
}

// NewMiddleware returns a Middleware that verifies tokens with v and
// requires every one of scopes. The realm it names in challenges is v's
// audience.
func NewMiddleware(v *Verifier, scopes ...string) *Middleware {
	return &Middleware{v: v, scopes: scopes, realm: v.cfg.Audience}
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
	for _, s := range m.scopes {
		if !c.HasScope(s) {
			return nil, refuse(InsufficientScope, "scope "+s+" is required")
		}
	}
	return c, nil
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := m.Check(r)
		if err == nil {
			h.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
			return
		}
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
	})
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
