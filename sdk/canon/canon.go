// Package canon is the one canonical form of a Mayfly access token. Mayfly's
// own verifier and package sdk's both accept a token only in this form, so
// a token has exactly one spelling: no one without the signing key can turn
// an accepted token into another string that is accepted too, and no two
// JSON parsers can read different claims from the bytes that were signed.
// It imports the standard library only.
//
// # The form
//
// A token is in canonical form if it is a JWS in compact serialization
// (RFC 7515 section 7.1) in which:
//
//   - there are three parts joined by two dots, and no other character than
//     the base64url alphabet and those dots: no padding, no whitespace, no
//     line break;
//   - each part is base64url without padding whose last character carries
//     no stray bits (the bits beyond the encoded bytes are zero), so that
//     it is the one encoding of its bytes;
//   - the header and the payload are each one JSON object in which no
//     object, at any depth, has two members of the same name, nor two whose
//     names differ only in case (Unicode simple case folding, as
//     bytes.EqualFold compares, and as encoding/json matches names to
//     struct fields). RFC 7515 section 5.2 and RFC 7519 section 4 let a
//     parser refuse duplicate names; encoding/json keeps the last of them
//     and matches "Client_ID" to client_id, so a parser that keeps the
//     first, or minds case, would read another token from the same bytes;
//   - the header has no "crit" and no "b64" member, whatever its value:
//     Mayfly signs neither, and b64 would have the signature cover other
//     bytes than the claims read;
//   - an ES256 signature (R, S) has S at most n/2, n the order of P-256:
//     of the two signatures (R, S) and (R, n-S) that verify, only the low
//     one is accepted. Mayfly signs with low S; LowS makes any ES256
//     signature low.
//
// EdDSA and RS256 signatures need no rule: crypto/ed25519 refuses an S
// that is not below the group order, and an RS256 signature is one integer
// below the modulus, written at the modulus's length.
//
// Check tests everything but the last rule, before a token is parsed;
// CheckSignature tests the last, once the signature has verified, so that a
// stranger's signature is refused as a bad signature whatever its S.
//
// # The digest
//
// Digest names a token by what was signed: a hash of its decoded header
// and payload, the same for every spelling of them, so that a service can
// tell Mayfly which token it saw, and a re-encoded genuine token is never
// taken for another one. The server records the digest of every token it
// issues with this same function.
package canon

import (
	"bytes"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrForm is the error every refusal of this package wraps.
var ErrForm = errors.New("not in canonical form")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrForm}, args...)...)
}

// strict decodes base64url without padding, refusing stray bits in the last
// character. It still skips line breaks, which Check refuses first.
var strict = base64.RawURLEncoding.Strict()

var partNames = [3]string{"header", "payload", "signature"}

// Check reports whether token is in canonical form, but for the ES256
// signature's S (see CheckSignature). It reads at most the token, so
// bound its length first.
func Check(token string) error {
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return refuse("byte %d (%q) is neither base64url nor a dot", i, c)
		}
	}
	if dots != 2 {
		return refuse("%d dots, not the 2 of a compact JWS", dots)
	}
	// Decoded, a Mayfly token's header and payload fit in buf; a longer
	// token (at most the verifier's size limit) costs one allocation.
	var arr [1024]byte
	buf := arr[:]
	if n := strict.DecodedLen(len(token)); n > len(buf) {
		buf = make([]byte, n)
	}
	var decoded [2][]byte
	rest := token
	for i := range 3 {
		p, after, _ := strings.Cut(rest, ".")
		n, err := strict.Decode(buf, []byte(p))
		if err != nil {
			return refuse("%s is not canonical base64url: %v", partNames[i], err)
		}
		if i < 2 {
			decoded[i], buf = buf[:n:n], buf[n:]
		}
		rest = after
	}
	if err := members(decoded[0], true); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := members(decoded[1], false); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}

// members checks that doc is one JSON object in which no object names two
// members alike (see distinct). In a header, the outer object may
// name neither crit nor b64.
//
// It is on the path of every verification, so it reads doc in place:
// json.Valid first, and then, sure that doc is valid JSON, it only has to
// find where objects begin and end and which strings are member names.
// Names are compared where they lie in doc unless they hold an escape or
// bytes that are not UTF-8; those are unquoted as encoding/json unquotes
// them. A walk with json.Decoder.Token cost 13.7 µs and 213 allocations
// per Mayfly token; this one, BenchmarkCheck.
func members(doc []byte, header bool) error {
	if !json.Valid(doc) {
		return refuse("not JSON")
	}
	i := skipSpace(doc, 0)
	if i == len(doc) || doc[i] != '{' {
		return refuse("not a JSON object")
	}
	var (
		nameBuf  [32]span
		names    = nameBuf[:0] // of the open objects, innermost last
		frameBuf [8]int
		frames   = frameBuf[:0] // per open object, where its names begin in names; -1 per open array
		unquoted []byte         // the names that needed unquoting, one after another
		isName   bool           // the next string is a member name
	)
	text := func(s span) []byte {
		if s.unquoted {
			return unquoted[s.from:s.to]
		}
		return doc[s.from:s.to]
	}
	for ; i < len(doc); i++ {
		switch doc[i] {
		case '{':
			frames = append(frames, len(names))
			isName = true
		case '[':
			frames = append(frames, -1)
			isName = false
		case '}':
			from := frames[len(frames)-1]
			if err := distinct(names[from:], text); err != nil {
				return err
			}
			names, frames = names[:from], frames[:len(frames)-1]
			isName = false
		case ']':
			frames = frames[:len(frames)-1]
			isName = false
		case ',':
			isName = frames[len(frames)-1] >= 0
		case '"':
			end := stringEnd(doc, i)
			if isName {
				s := span{from: i + 1, to: end}
				if raw := doc[i+1 : end]; bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
					// A copy, as json.Unmarshal keeps what it is given from
					// the stack.
					var u string
					if err := json.Unmarshal(bytes.Clone(doc[i:end+1]), &u); err != nil {
						return refuse("member name %s: %v", string(doc[i:end+1]), err)
					}
					s = span{from: len(unquoted), to: len(unquoted) + len(u), unquoted: true}
					unquoted = append(unquoted, u...)
				}
				if n := text(s); header && len(frames) == 1 && (string(n) == "crit" || string(n) == "b64") {
					return refuse("the header has a %q member", string(n))
				}
				names = append(names, s)
				isName = false
			}
			i = end
		}
	}
	return nil
}

// span is where a member name lies: in the document, or among the names
// that needed unquoting.
type span struct {
	from, to int
	unquoted bool
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote that ends the string whose
// opening quote is at i, in valid JSON.
func stringEnd(doc []byte, i int) int {
	for i++; doc[i] != '"'; i++ {
		if doc[i] == '\\' {
			i++ // the escaped byte, perhaps a quote
		}
	}
	return i
}

// distinct checks that no two of one object's names are alike: equal
// but for case, as bytes.EqualFold compares them. Objects of up to 32
// members, as every Mayfly token's are, are compared pair by pair; a
// larger one through a map of its folded names.
func distinct(names []span, text func(span) []byte) error {
	if len(names) <= 32 {
		for i, a := range names {
			for _, b := range names[:i] {
				if bytes.EqualFold(text(a), text(b)) {
					return refuse("one object has members %q and %q", string(text(b)), string(text(a)))
				}
			}
		}
		return nil
	}
	seen := make(map[string]span, len(names))
	for _, a := range names {
		f := fold(text(a))
		if b, ok := seen[f]; ok {
			return refuse("one object has members %q and %q", string(text(b)), string(text(a)))
		}
		seen[f] = a
	}
	return nil
}

// fold maps a name to one string for all the names bytes.EqualFold holds
// equal to it: each rune to the smallest rune of its case folding orbit
// (so "ſ", U+017F, and "s" both become "S", and the Kelvin sign, U+212A,
// and "k" both "K"). encoding/json folds names so to match them to struct
// fields.
func fold(name []byte) string {
	out := make([]byte, 0, len(name))
	for _, r := range string(name) {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				r = next // the orbit wrapped round to its smallest
				break
			}
			r = next
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

// p256N is n, the order of P-256's group, and halfN is n/2 rounded down.
var (
	p256N = elliptic.P256().Params().N
	halfN = new(big.Int).Rsh(p256N, 1)
	// halfNBytes is n/2 as 32 big-endian bytes, to compare S with without
	// allocating.
	halfNBytes = [32]byte(halfN.FillBytes(make([]byte, 32)))
)

// CheckSignature reports whether sig, a signature that verified under alg,
// is the canonical one of its signatures: for ES256, R and S of 32 bytes
// each with S at most n/2. Other algorithms' signatures are unique.
func CheckSignature(alg string, sig []byte) error {
	if alg != "ES256" {
		return nil
	}
	if len(sig) != 64 {
		return refuse("an ES256 signature of %d bytes, not 64", len(sig))
	}
	if bytes.Compare(sig[32:], halfNBytes[:]) > 0 { // both big-endian, 32 bytes
		return refuse("an ES256 signature with a high S: S > n/2")
	}
	return nil
}

// LowS makes sig, an ES256 signature R || S of 32 bytes each, the one of
// its two valid forms that CheckSignature accepts: S > n/2 becomes n - S.
// A signature of another length is left as it is.
func LowS(sig []byte) {
	if len(sig) != 64 {
		return
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(halfN) > 0 {
		s.Sub(p256N, s).FillBytes(sig[32:])
	}
}
