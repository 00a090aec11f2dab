package canon

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrDigest is the error every refusal of Digest wraps.
var ErrDigest = errors.New("cannot digest token")

// DigestLen is the length of a digest: 128 bits in unpadded base64url.
const DigestLen = 22

// loose decodes base64url with or without padding and keeps the bits a
// strict decoder refuses: the digest names what was signed, not how it
// was spelled.
var loose = base64.RawURLEncoding

// Digest returns the digest of a token: its identity, the same for every
// spelling of the same signed header and claims. It is
//
//	base64url-nopad( SHA-256( len(H) || H || P )[:16] )
//
// where H and P are the decoded bytes of the token's first two parts (the
// JOSE header and the payload) and len(H) is H's length as 4 bytes,
// big-endian. The signature is not covered. Each part is base64url with
// or without "=" padding; bits beyond the encoded bytes in a part's last
// character are ignored. The token must have exactly three parts, none
// holding any other character (no whitespace), and a header and payload
// that are not empty; otherwise Digest returns an error wrapping
// ErrDigest. The result is DigestLen characters.
//
// Digest does not check the token's canonical form (see Check) or its
// signature: a verifier has done that, and a token it refuses may still
// need naming, as a forgery. It reads at most the token, so bound its
// length first.
func Digest(token string) (string, error) {
	h, rest, ok := strings.Cut(token, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.IndexByte(sig, '.') >= 0 {
		return "", fmt.Errorf("%w: %d dots, not the 2 of a compact JWS", ErrDigest, strings.Count(token, "."))
	}
	// Length, header and payload in one buffer, hashed at once: a Mayfly
	// token's fit on the stack.
	var arr [1024]byte
	buf := arr[:]
	if n := 4 + loose.DecodedLen(len(h)+len(p)) + 2; n > len(buf) {
		buf = make([]byte, n)
	}
	nh, err := decodePart(buf[4:], h, "header")
	if err != nil {
		return "", err
	}
	np, err := decodePart(buf[4+nh:], p, "payload")
	if err != nil {
		return "", err
	}
	if err := checkPart(sig); err != nil {
		return "", fmt.Errorf("%w: signature: %v", ErrDigest, err)
	}
	binary.BigEndian.PutUint32(buf, uint32(nh))
	return digestOf(buf[:4+nh+np]), nil
}

// DigestParts is Digest of a token whose decoded header and payload are
// header and payload: for the issuer, which has them before it encodes
// them, and need not decode what it just encoded.
func DigestParts(header, payload []byte) string {
	var arr [1024]byte
	buf := append(binary.BigEndian.AppendUint32(arr[:0], uint32(len(header))), header...)
	return digestOf(append(buf, payload...))
}

// digestOf is the digest of len(H) || H || P.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// decodePart decodes part s of a token into dst, refusing an empty part.
func decodePart(dst []byte, s, name string) (int, error) {
	if err := checkPart(s); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrDigest, name, err)
	}
	s = strings.TrimRight(s, "=")
	n, err := loose.Decode(dst, []byte(s))
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not base64url: %v", ErrDigest, name, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %s is empty", ErrDigest, name)
	}
	return n, nil
}

// checkPart refuses a part with a character that is neither base64url nor
// trailing padding that makes its length a multiple of 4. The decoder
// would skip line breaks; the digest's definition has none.
func checkPart(s string) error {
	body := strings.TrimRight(s, "=")
	if pad := len(s) - len(body); pad > 0 && (pad > 2 || len(s)%4 != 0) {
		return errors.New("wrong padding")
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("byte %d (%q) is not base64url", i, c)
		}
	}
	if len(body)%4 == 1 {
		return errors.New("a length no base64 has")
	}
	return nil
}
