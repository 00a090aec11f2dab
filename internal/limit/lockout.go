package limit

import (
	"hash/maphash"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Kinds of lockout: what a key names.
const (
	KindClient  = "client"  // a client ID
	KindAddress = "address" // a source address, for client authentication
	KindAdmin   = "admin"   // a source address, for admin and SCIM credentials
)

// shards spread a Lockout's keys over this many locks, so that concurrent
// requests seldom wait for each other.
const shards = 32

// evictScan is how many of the oldest entries eviction looks at for one
// that is not backing off.
const evictScan = 8

// Lockout backs keys off after consecutive failures (see the package
// comment). Its methods are safe for concurrent use, and a nil Lockout
// admits everything.
type Lockout struct {
	kind   string
	policy Policy
	clock  mayfly.Clock
	log    *slog.Logger
	seed   maphash.Seed
	limit  int // entries per shard
	n      atomic.Int64
	shards [shards]shard
	stats  Stats
}

// Stats count what a Lockout did, for metrics.
type Stats struct {
	Failures atomic.Int64 // failed authentications counted
	Lockouts atomic.Int64 // backoffs started
	Refused  atomic.Int64 // requests refused while backing off
}

type shard struct {
	mu sync.Mutex
	m  map[uint64]*entry
	// lru is a ring through every entry, most recent failure first; lru
	// itself is the sentinel.
	lru entry
}

type entry struct {
	key        uint64
	failures   int
	last       int64 // the last failure, Unix nanoseconds
	until      int64 // refused before this, Unix nanoseconds
	prev, next *entry
}

// NewLockout returns a Lockout of kind under policy that tracks at most
// entries keys. A zero Forget means its default.
func NewLockout(kind string, policy Policy, entries int, clock mayfly.Clock, log *slog.Logger) *Lockout {
	if policy.Forget == 0 {
		policy.Forget = max(minForget, 3*policy.Max)
	}
	l := &Lockout{kind: kind, policy: policy, clock: clock, log: log, seed: maphash.MakeSeed(), limit: max(1, (entries+shards-1)/shards)}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.m = map[uint64]*entry{}
		sh.lru.prev, sh.lru.next = &sh.lru, &sh.lru
	}
	return l
}

// Kind is what the Lockout's keys name.
func (l *Lockout) Kind() string { return l.kind }

// Stats are the Lockout's counters.
func (l *Lockout) Stats() *Stats { return &l.stats }

// Entries is how many keys the Lockout tracks now.
func (l *Lockout) Entries() int { return int(l.n.Load()) }

func (l *Lockout) shard(key string) (*shard, uint64) {
	h := maphash.String(l.seed, key)
	return &l.shards[h%shards], h
}

// Check refuses key while it backs off, with a RateLimited error whose
// RetryAfter is the time left.
func (l *Lockout) Check(key string) error {
	if l == nil || l.n.Load() == 0 {
		return nil
	}
	sh, h := l.shard(key)
	sh.mu.Lock()
	var until int64
	if e := sh.m[h]; e != nil {
		until = e.until
	}
	sh.mu.Unlock()
	if until == 0 {
		return nil
	}
	left := time.Duration(until - l.clock.Now().UnixNano())
	if left <= 0 {
		return nil
	}
	l.stats.Refused.Add(1)
	return &mayfly.Error{Code: mayfly.RateLimited, RetryAfter: left,
		Msg: "too many failed authentications " + l.from() + "; try again in " + strconv.Itoa(Seconds(left)) + " s"}
}

func (l *Lockout) from() string {
	if l.kind == KindClient {
		return "for this client"
	}
	return "from this address"
}

// Fail counts a failed authentication of key. The failure that starts a
// backoff is logged; one that only lengthens a backoff already running
// (a request that was checked before it began) is not.
func (l *Lockout) Fail(key string) {
	if l == nil {
		return
	}
	l.stats.Failures.Add(1)
	sh, h := l.shard(key)
	now := l.clock.Now().UnixNano()
	sh.mu.Lock()
	e := sh.m[h]
	if e != nil && now-e.last >= int64(l.policy.Forget) {
		e.failures, e.until = 0, 0
	}
	if e == nil {
		e = l.insert(sh, h, now)
	}
	e.failures++
	e.last = now
	sh.touch(e)
	var started time.Duration
	if d := l.backoff(e.failures); d > 0 {
		if now >= e.until {
			started = d
		}
		e.until = max(e.until, now+int64(d))
	}
	n := e.failures
	sh.mu.Unlock()
	if started == 0 {
		return
	}
	l.stats.Lockouts.Add(1)
	field := "source_ip"
	if l.kind == KindClient {
		field = "client_id"
		key = shownClientID(key)
	}
	l.log.Warn("authentication lockout: refusing "+l.kind+" for a while after failed authentications",
		field, key, "failures", n, "retry_after", started)
}

// Succeed resets key after a successful authentication.
func (l *Lockout) Succeed(key string) {
	if l == nil || l.n.Load() == 0 {
		return
	}
	sh, h := l.shard(key)
	sh.mu.Lock()
	if e := sh.m[h]; e != nil {
		l.remove(sh, e)
	}
	sh.mu.Unlock()
}

// backoff is how long the failures-th consecutive failure backs off for.
func (l *Lockout) backoff(failures int) time.Duration {
	k := failures - l.policy.Failures
	if k < 0 {
		return 0
	}
	if k >= 32 {
		return l.policy.Max
	}
	return min(firstBackoff<<k, l.policy.Max)
}

// insert adds an entry for h, evicting one first if the shard is full.
// Entries whose failures are forgotten leave first.
func (l *Lockout) insert(sh *shard, h uint64, now int64) *entry {
	for i := 0; i < 2 && sh.lru.prev != &sh.lru && now-sh.lru.prev.last >= int64(l.policy.Forget); i++ {
		l.remove(sh, sh.lru.prev)
	}
	if len(sh.m) >= l.limit {
		victim := sh.lru.prev
		for e, i := victim, 0; e != &sh.lru && i < evictScan; e, i = e.prev, i+1 {
			if now >= e.until {
				victim = e
				break
			}
		}
		l.remove(sh, victim)
	}
	e := &entry{key: h}
	e.prev, e.next = &sh.lru, sh.lru.next
	e.prev.next, e.next.prev = e, e
	sh.m[h] = e
	l.n.Add(1)
	return e
}

func (l *Lockout) remove(sh *shard, e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(sh.m, e.key)
	l.n.Add(-1)
}

// touch moves e to the front: the most recent failure.
func (sh *shard) touch(e *entry) {
	if sh.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = &sh.lru, sh.lru.next
	e.prev.next, e.next.prev = e, e
}

// Seconds rounds d up to whole seconds, at least one: a Retry-After.
func Seconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// AddressKey is the key of a source address: the address itself, or for
// IPv6 its /64, since anyone with one IPv6 address usually has the whole
// /64 around it.
func AddressKey(ip string) string {
	if !strings.Contains(ip, ":") {
		return ip
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// shownClientID is what a log line may say of a claimed client ID: the ID
// if it has the form of one, else nothing that could be a secret.
func shownClientID(id string) string {
	rest, ok := strings.CutPrefix(id, "mfc_")
	if !ok || len(rest) == 0 || len(rest) > 32 {
		return "(not a client ID)"
	}
	for _, c := range rest {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return "(not a client ID)"
		}
	}
	return id
}
