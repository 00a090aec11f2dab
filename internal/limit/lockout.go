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

// shard is one lock's part of the table. It holds no pointers, so the
// garbage collector never scans it however full it is: with entries linked
// by pointers, a table filled by a spray cost the token endpoint about 1%
// more CPU in marking alone.
type shard struct {
	mu sync.Mutex
	m  map[uint64]int32 // key -> index in e
	// e[0] is the sentinel of a ring through every entry, most recent
	// failure first; free heads a list of unused slots, linked by next.
	e    []entry
	free int32
}

type entry struct {
	key        uint64
	last       int64 // the last failure, Unix nanoseconds
	until      int64 // refused before this, Unix nanoseconds
	failures   int32
	prev, next int32
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
		sh.m = map[uint64]int32{}
		sh.e = make([]entry, 1, 16)
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
	if i, ok := sh.m[h]; ok {
		until = sh.e[i].until
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
	i, ok := sh.m[h]
	if ok && now-sh.e[i].last >= int64(l.policy.Forget) {
		sh.e[i].failures, sh.e[i].until = 0, 0
	}
	if !ok {
		i = l.insert(sh, h, now)
	}
	e := &sh.e[i]
	e.failures = min(e.failures+1, 1<<30)
	e.last = now
	sh.touch(i)
	var started time.Duration
	if d := l.backoff(int(e.failures)); d > 0 {
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
	if i, ok := sh.m[h]; ok {
		l.remove(sh, i)
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

// insert adds an entry for h and returns its index, evicting one first
// if the shard is full. Entries whose failures are forgotten leave first.
func (l *Lockout) insert(sh *shard, h uint64, now int64) int32 {
	for k := 0; k < 2; k++ {
		oldest := sh.e[0].prev
		if oldest == 0 || now-sh.e[oldest].last < int64(l.policy.Forget) {
			break
		}
		l.remove(sh, oldest)
	}
	if len(sh.m) >= l.limit {
		victim := sh.e[0].prev
		for i, k := victim, 0; i != 0 && k < evictScan; i, k = sh.e[i].prev, k+1 {
			if now >= sh.e[i].until {
				victim = i
				break
			}
		}
		l.remove(sh, victim)
	}
	i := sh.free
	if i != 0 {
		sh.free = sh.e[i].next
	} else {
		if len(sh.e) == cap(sh.e) { // grow, but never past the bound
			grown := make([]entry, len(sh.e), min(2*cap(sh.e), l.limit+1))
			copy(grown, sh.e)
			sh.e = grown
		}
		sh.e = append(sh.e, entry{})
		i = int32(len(sh.e) - 1)
	}
	sh.e[i] = entry{key: h, prev: 0, next: sh.e[0].next}
	sh.e[sh.e[0].next].prev = i
	sh.e[0].next = i
	sh.m[h] = i
	l.n.Add(1)
	return i
}

// remove unlinks entry i and puts its slot on the free list.
func (l *Lockout) remove(sh *shard, i int32) {
	e := &sh.e[i]
	sh.e[e.prev].next, sh.e[e.next].prev = e.next, e.prev
	delete(sh.m, e.key)
	*e = entry{next: sh.free}
	sh.free = i
	l.n.Add(-1)
}

// touch moves entry i to the front: the most recent failure.
func (sh *shard) touch(i int32) {
	if sh.e[0].next == i {
		return
	}
	e := &sh.e[i]
	sh.e[e.prev].next, sh.e[e.next].prev = e.next, e.prev
	e.prev, e.next = 0, sh.e[0].next
	sh.e[e.next].prev = i
	sh.e[0].next = i
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
