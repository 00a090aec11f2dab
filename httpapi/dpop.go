package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk/dpop"
)

// errDPoPRequired refuses a request without the DPoP proof its client
// must give (RFC 9449 section 5).
var errDPoPRequired = &mayfly.Error{Code: mayfly.Invalid, Field: "dpop", Msg: "this client must prove possession with a DPoP proof"}

// dpopProof checks the DPoP proof of a token request, if it carries one,
// and returns the SHA-256 thumbprint of its key (RFC 7638), or "" if it
// carries none. The proof is for POST to the token endpoint as clients
// address it: the issuer's URL, which is the public one behind a proxy.
// Its replay memory is this process's own (see package dpop).
func (s *Server) dpopProof(r *http.Request) (jkt string, err error) {
	hs := r.Header.Values("DPoP")
	switch len(hs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", mayfly.InvalidField("dpop", "more than one DPoP header")
	}
	p, err := s.dpop.Check(hs[0], dpop.Request{Method: r.Method, URL: s.cfg.Issuer + api.TokenPath})
	if errors.Is(err, dpop.ErrFull) {
		return "", &mayfly.Error{Code: mayfly.Unavailable, Msg: "too many DPoP proofs to check for replay now", RetryAfter: time.Second, Err: err}
	}
	if err != nil {
		var de *dpop.Error
		errors.As(err, &de)
		return "", &mayfly.Error{Code: mayfly.Invalid, Field: "dpop", Msg: "invalid DPoP proof: " + de.Msg, Err: err}
	}
	return p.JKT, nil
}
