package detect

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Config holds the rules' thresholds and containment. Zero values mean the
// defaults (DefaultConfig).
type Config struct {
	// Disable lists rules that do not run.
	Disable RuleSet
	// IssuanceGrace is how long a token without an issuance record is
	// looked for again before forged-token fires: a record is durable
	// before its token is handed out, but a replica's read may trail a
	// commit it has not yet seen.
	IssuanceGrace time.Duration
	// RevocationGrace is how long after a revocation a verifier may still
	// accept what it withdrew, the time the revocation takes to reach it,
	// before revoked-in-use fires.
	RevocationGrace time.Duration
	// bulk-read: distinct records in BulkWindow above
	// max(BulkMultiple × the learned high-water mark, BulkFloor), or above
	// BulkCeiling; during a key's first BulkLearning, only above
	// BulkCeiling.
	BulkWindow   time.Duration
	BulkLearning time.Duration
	BulkMultiple float64
	BulkFloor    int64
	BulkCeiling  int64
	// Learning is how long after a client or principal is first seen its
	// networks are learned; new-network fires on a new one after that.
	Learning time.Duration
	// shared-source: more than SharedMax clients, or subjects, from one
	// address within SharedWindow.
	SharedWindow time.Duration
	SharedMax    int
	// stale-verifier: a revocation feed behind or silent for longer than
	// StaleLag, or a service silent for longer than StaleSilence.
	StaleLag     time.Duration
	StaleSilence time.Duration
	// Contain is what each rule does besides alerting; empty: nothing.
	Contain Containment
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		IssuanceGrace:   250 * time.Millisecond,
		RevocationGrace: 5 * time.Second,
		BulkWindow:      10 * time.Minute,
		BulkLearning:    time.Hour,
		BulkMultiple:    5,
		BulkFloor:       10000,
		BulkCeiling:     1000000,
		Learning:        7 * 24 * time.Hour,
		SharedWindow:    10 * time.Minute,
		SharedMax:       20,
		StaleLag:        30 * time.Second,
		StaleSilence:    5 * time.Minute,
	}
}

// Defaults fills in the defaults of what is not set, and refuses what is
// out of range.
func (c *Config) Defaults() error {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.IssuanceGrace, d.IssuanceGrace)
	set(&c.RevocationGrace, d.RevocationGrace)
	set(&c.BulkWindow, d.BulkWindow)
	set(&c.BulkLearning, d.BulkLearning)
	set(&c.Learning, d.Learning)
	set(&c.SharedWindow, d.SharedWindow)
	set(&c.StaleLag, d.StaleLag)
	set(&c.StaleSilence, d.StaleSilence)
	if c.BulkMultiple == 0 {
		c.BulkMultiple = d.BulkMultiple
	}
	if c.BulkFloor == 0 {
		c.BulkFloor = d.BulkFloor
	}
	if c.BulkCeiling == 0 {
		c.BulkCeiling = d.BulkCeiling
	}
	if c.SharedMax == 0 {
		c.SharedMax = d.SharedMax
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{{"issuance-grace", c.IssuanceGrace}, {"revocation-grace", c.RevocationGrace}, {"bulk-window", c.BulkWindow}, {"bulk-learning", c.BulkLearning},
		{"learning", c.Learning}, {"shared-source-window", c.SharedWindow}, {"stale-lag", c.StaleLag}, {"stale-silence", c.StaleSilence}} {
		if v.d < 0 {
			return fmt.Errorf("--detect-%s %s: must be positive", v.flag, v.d)
		}
	}
	switch {
	case c.BulkWindow < time.Second:
		return fmt.Errorf("--detect-bulk-window %s: must be at least 1s", c.BulkWindow)
	case c.BulkMultiple < 1:
		return fmt.Errorf("--detect-bulk-multiple %g: must be at least 1", c.BulkMultiple)
	case c.BulkFloor < 1:
		return fmt.Errorf("--detect-bulk-floor %d: must be at least 1", c.BulkFloor)
	case c.BulkCeiling < c.BulkFloor:
		return fmt.Errorf("--detect-bulk-ceiling %d: must be at least --detect-bulk-floor (%d)", c.BulkCeiling, c.BulkFloor)
	case c.SharedMax < 1:
		return fmt.Errorf("--detect-shared-source-max %d: must be at least 1", c.SharedMax)
	}
	return nil
}

// RuleSet is a set of rules, as a flag: names separated by commas.
type RuleSet []mayfly.Rule

// Has reports whether r is in the set.
func (s RuleSet) Has(r mayfly.Rule) bool { return slices.Contains(s, r) }

func (s RuleSet) String() string {
	names := make([]string, len(s))
	for i, r := range s {
		names[i] = string(r)
	}
	return strings.Join(names, ",")
}

// Set adds the rules named in v.
func (s *RuleSet) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		r, err := parseRule(name)
		if err != nil {
			return err
		}
		if !s.Has(r) {
			*s = append(*s, r)
		}
	}
	return nil
}

func parseRule(name string) (mayfly.Rule, error) {
	if r := mayfly.Rule(name); slices.Contains(mayfly.Rules, r) {
		return r, nil
	}
	names := make([]string, len(mayfly.Rules))
	for i, r := range mayfly.Rules {
		names[i] = string(r)
	}
	return "", fmt.Errorf("%q is not a rule: the rules are %s", name, strings.Join(names, ", "))
}

// Containment actions.
const (
	RevokeKey        = "revoke-key"        // revoke the key that signed the token, as `mayfly key revoke` does
	SuspendPrincipal = "suspend-principal" // suspend the token's principal, as `mayfly principal suspend` does
	RevokeClient     = "revoke-client"     // revoke the token's client, as `mayfly client revoke` does
)

// actions lists what each rule may do.
var actions = map[mayfly.Rule][]string{
	mayfly.RuleForgedToken:  {RevokeKey},
	mayfly.RuleRevokedInUse: {SuspendPrincipal, RevokeClient},
	mayfly.RuleBulkRead:     {SuspendPrincipal, RevokeClient},
}

// Containment maps a rule to the action it takes as it alerts. As a flag
// it reads RULE=ACTION pairs separated by commas, such as
// "forged-token=revoke-key,bulk-read=suspend-principal"; ACTION "alert"
// takes a rule's action away again.
type Containment map[mayfly.Rule]string

func (c Containment) String() string {
	var pairs []string
	for _, r := range mayfly.Rules {
		if a, ok := c[r]; ok {
			pairs = append(pairs, string(r)+"="+a)
		}
	}
	return strings.Join(pairs, ",")
}

// Set adds the pairs in v.
func (c *Containment) Set(v string) error {
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, action, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("%q is not RULE=ACTION, such as forged-token=revoke-key", pair)
		}
		r, err := parseRule(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		action = strings.TrimSpace(action)
		if *c == nil {
			*c = Containment{}
		}
		if action == "alert" {
			delete(*c, r)
			continue
		}
		allowed := actions[r]
		if !slices.Contains(allowed, action) {
			if len(allowed) == 0 {
				return fmt.Errorf("%s only alerts: it has no containment action", r)
			}
			return fmt.Errorf("%s cannot %q: it may %s, or alert", r, action, strings.Join(allowed, " or "))
		}
		(*c)[r] = action
	}
	return nil
}

// RuleSetting is a rule as configured: whether it runs, its thresholds in
// a line for people, and what it does besides alerting.
type RuleSetting struct {
	Rule       mayfly.Rule
	Enabled    bool
	Thresholds string
	Contain    string // empty: alert only
}

// Settings describes every rule as c configures it, in mayfly.Rules order.
func (c Config) Settings() []RuleSetting {
	th := map[mayfly.Rule]string{
		mayfly.RuleForgedToken:  fmt.Sprintf("a reported token with no issuance record after %s", c.IssuanceGrace),
		mayfly.RuleRevokedInUse: fmt.Sprintf("a withdrawn token, key, client or principal accepted more than %s after its revocation", c.RevocationGrace),
		mayfly.RuleBulkRead: fmt.Sprintf("distinct records in %s above max(%g × the learned high-water mark, %d), or above %d; only the last during the first %s",
			c.BulkWindow, c.BulkMultiple, c.BulkFloor, c.BulkCeiling, c.BulkLearning),
		mayfly.RuleNewNetwork:    fmt.Sprintf("a network not seen in a client's or principal's first %s", c.Learning),
		mayfly.RuleSharedSource:  fmt.Sprintf("more than %d clients, or subjects, from one address within %s", c.SharedMax, c.SharedWindow),
		mayfly.RuleStaleVerifier: fmt.Sprintf("a revocation feed behind or silent for longer than %s, or a service silent for longer than %s", c.StaleLag, c.StaleSilence),
		mayfly.RuleRefreshReuse:  "a retired refresh token presented again",
	}
	out := make([]RuleSetting, 0, len(mayfly.Rules))
	for _, r := range mayfly.Rules {
		out = append(out, RuleSetting{Rule: r, Enabled: !c.Disable.Has(r), Thresholds: th[r], Contain: c.Contain[r]})
	}
	return out
}
