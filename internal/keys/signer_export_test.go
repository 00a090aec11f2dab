package keys

import (
	"crypto"
	"io"

	"github.com/mayflyhq/mayfly"
)

// NewSigner lets the package's external tests wrap any crypto.Signer as
// a Service wraps the keys it unseals, and sign through Signer.Sign as the
// token service does.
func NewSigner(k *mayfly.Key, priv crypto.Signer, rand io.Reader) (*Signer, error) {
	return newSigner(k, priv, mayfly.KeyLifetimeCeiling, rand)
}

// FixedWidth is fixedWidth, for its fuzz target.
var FixedWidth = fixedWidth
