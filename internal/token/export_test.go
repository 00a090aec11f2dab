package token

// ForgetVerified forgets every verified token, so that each is verified
// again: for benchmarks of the signature's cost.
func (s *Service) ForgetVerified() { s.verified.Forget() }
