package token

// verifiedGeneration bounds a generation of the tokens remembered as
// verified (internal/memo keeps two): about 1 KB each for tokens of the
// usual size, so about 65 MB at most.
const verifiedGeneration = 1 << 15

// verified is what is remembered of a token whose form and signature
// checked: the kid that signed it and its claims. Neither can change for
// the same string: a kid names one key, and the claims are signed. Only a
// token that verified is remembered, so a flood of garbage costs what it
// costs today and evicts nothing; an expired one is not found, and goes
// through the full path, which says why it is refused.
type verified struct {
	kid    string
	claims Claims
}

// rememberVerified remembers a verified token until it expires.
func (s *Service) rememberVerified(sum [32]byte, v verified) {
	if s.cfg.Clock.Now().Unix() < v.claims.Expiry {
		s.verified.Put(sum, &v)
	}
}

// lookupVerified finds a verified token that has not expired.
func (s *Service) lookupVerified(sum [32]byte) (*verified, bool) {
	v, ok := s.verified.Get(sum)
	if !ok || s.cfg.Clock.Now().Unix() >= v.claims.Expiry {
		return nil, false
	}
	return v, true
}
