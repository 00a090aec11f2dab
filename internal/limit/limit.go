// Package limit holds what keeps one caller from wearing the service down:
// lockouts that back off a client ID or a source address after failed
// authentications, and a bound on how many expensive requests (RSA
// signatures, audit exports and verifications, admin reads whose cost
// grows with the store) run at once.
//
// # Lockouts
//
// A Lockout counts consecutive failed authentications per key: a client
// ID, or a source address. Policy.Failures of them in a row start a
// backoff of one second; each further failure doubles it, up to
// Policy.Max. While a key backs off, Check refuses it (RateLimited, with
// the time left as RetryAfter) before any credential is looked at, so
// guessing stops rather than slows; refused requests are not failures
// and do not lengthen the backoff. A success resets the key, and so does
// Policy.Forget without a failure.
//
// # Invariants
//
//   - Memory is bounded: each Lockout tracks at most Config.Entries keys,
//     whatever keys are sprayed at it. When full it evicts the key whose
//     last failure is oldest, preferring one that is not backing off.
//     Keys are kept as 64-bit hashes under a per-process random seed, so
//     a long key costs no more than a short one and an attacker cannot
//     aim collisions.
//   - Time is the injected clock's: tests move backoffs by hand.
//   - No credential is logged, not even a failed one. A lockout's start is
//     logged once with the client ID (only if it has the form of one, so
//     that a secret pasted into the ID field stays out of the log) or the
//     source address.
//   - State is per process. Replicas sharing a store each keep their own,
//     so across R replicas a key gets up to R times the failures before
//     and between backoffs: the limits hold to within a factor of R.
//
// # Expensive requests
//
// A Gate admits at most Config.Expensive requests at once; one beyond
// waits up to Config.ExpensiveWait for a slot and is then refused as
// Unavailable (HTTP 503) with a RetryAfter: the server is busy, which is
// not the caller's fault, and a client that retries after the pause gets
// through once the work in hand is done.
package limit

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Defaults. A client ID's backoff is kept short because anyone who knows
// the ID can start it (see the README); a source address's may be longer,
// since only that address suffers.
var (
	DefaultClient  = Policy{Failures: 5, Max: 30 * time.Second}
	DefaultAddress = Policy{Failures: 20, Max: 5 * time.Minute}
	DefaultAdmin   = Policy{Failures: 5, Max: 5 * time.Minute}
)

const (
	// DefaultEntries is how many keys each Lockout tracks by default.
	DefaultEntries = 1 << 16
	// DefaultExpensiveWait is how long an expensive request waits for a slot.
	DefaultExpensiveWait = time.Second
	// minForget is the least time failures are remembered by default.
	minForget = 15 * time.Minute
	// firstBackoff is the first backoff; each failure after doubles it.
	firstBackoff = time.Second
)

// DefaultExpensive is how many expensive requests run at once by default:
// four per CPU, so that a few long audit exports leave room for signing
// while the CPUs stay the bound on throughput.
func DefaultExpensive() int { return 4 * runtime.GOMAXPROCS(0) }

// Policy is when one kind of key backs off.
type Policy struct {
	// Failures is how many consecutive failures start a backoff.
	Failures int
	// Max is the longest backoff; at least a second.
	Max time.Duration
	// Forget is how long after its last failure a key starts afresh;
	// default the larger of 15 minutes and three times Max.
	Forget time.Duration
}

// Config configures the limits. Zero values mean the defaults.
type Config struct {
	// Off turns the lockouts off; the bound on expensive requests stays.
	Off bool
	// Client is the lockout per client ID, for client authentication at
	// the OAuth endpoints and the revocation stream.
	Client Policy
	// Address is the lockout per source address for the same failures.
	Address Policy
	// Admin is the lockout per source address for admin and SCIM bearer
	// credentials. Those are random tokens that carry no ID, so there is
	// no key per credential.
	Admin Policy
	// Entries bounds how many keys each lockout tracks.
	Entries int
	// Expensive bounds how many expensive requests run at once.
	Expensive int
	// ExpensiveWait is how long one beyond the bound waits for a slot.
	ExpensiveWait time.Duration
	// Hold, for tests, runs in every expensive request once it has its
	// slot, before its work: a test holds requests in flight with it.
	Hold func(what string)
}

// Defaults fills in what is not set and refuses what is not allowed.
func (c *Config) Defaults() error {
	for _, p := range []struct {
		name string
		p    *Policy
		def  Policy
	}{{"client", &c.Client, DefaultClient}, {"address", &c.Address, DefaultAddress}, {"admin", &c.Admin, DefaultAdmin}} {
		if err := p.p.defaults(p.def); err != nil {
			return fmt.Errorf("%s lockout: %w", p.name, err)
		}
	}
	switch {
	case c.Entries < 0:
		return fmt.Errorf("lockout entries %d: must be positive", c.Entries)
	case c.Entries == 0:
		c.Entries = DefaultEntries
	}
	switch {
	case c.Expensive < 0:
		return fmt.Errorf("expensive request bound %d: must be at least 1", c.Expensive)
	case c.Expensive == 0:
		c.Expensive = DefaultExpensive()
	}
	switch {
	case c.ExpensiveWait < 0:
		return fmt.Errorf("expensive request wait %s: must not be negative", c.ExpensiveWait)
	case c.ExpensiveWait == 0:
		c.ExpensiveWait = DefaultExpensiveWait
	}
	return nil
}

func (p *Policy) defaults(def Policy) error {
	switch {
	case p.Failures < 0:
		return fmt.Errorf("failures %d: must be at least 1", p.Failures)
	case p.Failures == 0:
		p.Failures = def.Failures
	}
	switch {
	case p.Max == 0:
		p.Max = def.Max
	case p.Max < firstBackoff:
		return fmt.Errorf("longest backoff %s: must be at least %s", p.Max, firstBackoff)
	}
	switch {
	case p.Forget < 0:
		return fmt.Errorf("forget after %s: must not be negative", p.Forget)
	case p.Forget == 0:
		p.Forget = max(minForget, 3*p.Max)
	case p.Forget <= p.Max:
		return errors.New("failures must be remembered for longer than the longest backoff")
	}
	return nil
}

// Limits are a server's lockouts and its bound on expensive requests.
type Limits struct {
	// Client, Address and Admin are nil when lockouts are off; a nil
	// Lockout admits everything.
	Client, Address, Admin *Lockout
	Expensive              *Gate
}

// New returns the limits cfg describes, on clock, logging to log.
func New(cfg Config, clock mayfly.Clock, log *slog.Logger) (*Limits, error) {
	if err := cfg.Defaults(); err != nil {
		return nil, err
	}
	l := &Limits{Expensive: NewGate(cfg.Expensive, cfg.ExpensiveWait, cfg.Hold)}
	if cfg.Off {
		return l, nil
	}
	l.Client = NewLockout(KindClient, cfg.Client, cfg.Entries, clock, log)
	l.Address = NewLockout(KindAddress, cfg.Address, cfg.Entries, clock, log)
	l.Admin = NewLockout(KindAdmin, cfg.Admin, cfg.Entries, clock, log)
	return l, nil
}
