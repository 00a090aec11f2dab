package mayfly

import (
	"unicode"
	"unicode/utf8"
)

// Bounds on the free text a caller gives: names of clients and
// credentials, reasons, descriptions.
const (
	MaxName   = 128
	MaxReason = 512
)

// CheckText refuses, naming field, text that is not valid UTF-8 (or holds
// U+FFFD, what decoding made of invalid UTF-8), holds a control character
// (NUL, a line break, ...), or is longer than max bytes.
// Every name, reason and description a caller gives passes it, on every
// route, so that every store can keep it and every log line shows it on
// one line.
func CheckText(field, s string, max int) error {
	if len(s) > max {
		return InvalidField(field, "%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return InvalidField(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		// A JSON decoder turns invalid UTF-8, and lone surrogates, into
		// U+FFFD: refused too, rather than kept as something the caller
		// did not send.
		if r == utf8.RuneError {
			return InvalidField(field, "%s is not valid UTF-8", field)
		}
		if unicode.IsControl(r) {
			return InvalidField(field, "%s holds a control character (%U); use text on one line", field, r)
		}
	}
	return nil
}
