package httpapi

import (
	"net/http"

	"github.com/mayflyhq/mayfly"
)

// errDPoPRequired refuses a request without the DPoP proof its client
// must give (RFC 9449 section 5).
var errDPoPRequired = &mayfly.Error{Code: mayfly.Invalid, Field: "dpop", Msg: "this client must prove possession with a DPoP proof"}

// dpopProof checks the DPoP proof of a token request, if it carries one,
// and returns the SHA-256 thumbprint of its key (RFC 7638), or "" if it
// carries none.
func (s *Server) dpopProof(r *http.Request) (jkt string, err error) {
	if len(r.Header.Values("DPoP")) == 0 {
		return "", nil
	}
	return "", &mayfly.Error{Code: mayfly.Invalid, Field: "dpop", Msg: "DPoP proofs are not supported yet"}
}
