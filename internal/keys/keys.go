// Package keys owns signing keys: key rings, their rotation schedule, sealing
// key material at rest, signing, and the public key set.
//
// # Invariants
//
//   - A key signs only inside its window [ActivateAt, DeactivateAt), and no
//     window is longer than the lifetime ceiling: the check is made at every
//     signature, not only by the rotation loop.
//   - Every key but a brand-new ring's first is published as next for a
//     whole lifetime before it signs, and stays published until every token
//     it signed has expired (MaxTokenTTL after it stops signing).
//   - Private key material exists only sealed in the store and as a
//     crypto.Signer inside this package; it is destroyed once the key is
//     retired or revoked. No method returns it.
//   - Every token signed is in the canonical form of package sdk/canon; an
//     ES256 signature has a low S, through a crypto.Signer too.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/seal"
)

// DefaultRing is the ring a fresh install signs with.
const DefaultRing = "default"

// Config configures a Service.
type Config struct {
	Store   Store
	Sealer  *seal.Sealer
	Revoker *revoke.Service
	Audit   mayfly.Updater // every change commits through it, with its entries
	Clock   mayfly.Clock
	Rand    io.Reader
	Log     *slog.Logger
	// Ceiling is the longest any key may sign, until SetCeiling changes
	// it. Zero means mayfly.KeyLifetimeCeiling.
	Ceiling time.Duration
	// CanSeal, if set, makes sure the sealer has the root key the store is
	// sealed under now, loading it if another replica rotated it, and fails
	// if it cannot. It is asked before new key material is sealed, and when
	// stored material does not open.
	CanSeal func(context.Context) error
}

// Store is what the service keeps in the store: rings and keys, and the
// lock that serialises changes to them across processes.
type Store interface {
	mayfly.KeyStore
	mayfly.Coordinator
}

// Service manages key rings. It is safe for concurrent use, and several
// processes sharing one store may each run one: changes to rings and keys
// happen under the store's "keys" lock and start from the stored state, so
// however many replicas run the schedule, each change is made once.
type Service struct {
	cfg     Config
	mu      sync.Mutex // serialises changes to rings and keys in this process
	snap    atomic.Pointer[snapshot]
	ceiling atomic.Int64 // see Ceiling
}

// lockName is the store lock that serialises key changes across processes.
const lockName = "keys"

// lock takes the store lock, then the process lock, and returns the
// function that releases both. In that order, a goroutine waiting for
// another replica to finish holds nothing that Reload needs, so this
// replica still hears of that replica's changes while it waits.
func (s *Service) lock(ctx context.Context) (func(), error) {
	unlock, err := s.cfg.Store.Lock(ctx, lockName)
	if err != nil {
		return nil, mayfly.E("keys.lock", err)
	}
	s.mu.Lock()
	return func() { s.mu.Unlock(); unlock() }, nil
}

// snapshot is an immutable view of every ring and key, swapped whole.
type snapshot struct {
	rings   map[string]*mayfly.Ring
	keys    []*mayfly.Key
	public  map[string]*publicKey
	signers map[string][]*Signer // ring -> signers whose window has not ended

	jwksCache atomic.Pointer[jwksCache]
}

type publicKey struct {
	key *mayfly.Key
	pub crypto.PublicKey
}

// New returns a Service and brings every ring's schedule up to date.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Ceiling == 0 {
		cfg.Ceiling = mayfly.KeyLifetimeCeiling
	}
	s := &Service{cfg: cfg}
	s.ceiling.Store(int64(cfg.Ceiling))
	s.snap.Store(&snapshot{rings: map[string]*mayfly.Ring{}, public: map[string]*publicKey{}, signers: map[string][]*Signer{}})
	if err := s.Maintain(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ceiling is the longest any key may sign now.
func (s *Service) Ceiling() time.Duration { return time.Duration(s.ceiling.Load()) }

// SetCeiling changes the ceiling. A lower one shortens the windows of keys
// that sign for longer at the next Maintain; a higher one lengthens those
// of keys made from then on.
func (s *Service) SetCeiling(d time.Duration) {
	if old := time.Duration(s.ceiling.Swap(int64(d))); old != d {
		s.cfg.Log.Warn("key lifetime ceiling changed", "from", old, "to", d)
	}
}

var ringName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CreateRing creates a key ring and its first keys. also, if not nil, runs
// in the transaction that creates them.
func (s *Service) CreateRing(ctx context.Context, name string, alg mayfly.Alg, lifetime time.Duration, also func(tx mayfly.Tx) error) (*mayfly.Ring, error) {
	const op = "keys.CreateRing"
	if !ringName.MatchString(name) {
		return nil, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: fmt.Sprintf("ring name %q must be 1-63 lowercase letters, digits, '.', '_' or '-'", name)}
	}
	if alg == "" {
		alg = mayfly.ES256
	}
	if !alg.Valid() {
		return nil, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: fmt.Sprintf("algorithm %q is not one of ES256, RS256, EdDSA", alg)}
	}
	if lifetime == 0 {
		lifetime = mayfly.DefaultKeyLifetime
	}
	if err := s.checkLifetime(lifetime); err != nil {
		return nil, err
	}
	r := &mayfly.Ring{Name: name, Alg: alg, Lifetime: lifetime, CreatedAt: s.cfg.Clock.Now().UTC()}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := s.cfg.Store.Ring(ctx, name); err == nil {
		return nil, &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: fmt.Sprintf("ring %q already exists", name)}
	}
	// The ring and its first keys in one step: a ring is never stored
	// without a key to sign with.
	err = s.maintainLocked(ctx, change{ring: r, also: also, entries: []mayfly.AuditEntry{{Action: mayfly.ActionRingCreated, Ring: name,
		Details: map[string]string{"alg": string(alg), "lifetime": lifetime.String()}}}})
	if mayfly.ErrorCode(err) == mayfly.Conflict {
		return nil, &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: fmt.Sprintf("ring %q already exists", name)}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// checkLifetime refuses lifetimes outside [MinKeyLifetime, ceiling].
func (s *Service) checkLifetime(d time.Duration) error {
	if d < mayfly.MinKeyLifetime {
		return mayfly.Errorf(mayfly.Invalid, "key lifetime %s is below the minimum of %s", d, mayfly.MinKeyLifetime)
	}
	if c := s.Ceiling(); d > c {
		return mayfly.Errorf(mayfly.Invalid, "key lifetime %s exceeds the ceiling of %s (%s); long-lived signing keys are what this service exists to prevent",
			d, c, days(c))
	}
	return nil
}

func days(d time.Duration) string {
	return fmt.Sprintf("%g days", d.Hours()/24)
}

// EnsureRing creates the named ring with defaults unless it exists.
func (s *Service) EnsureRing(ctx context.Context, name string) error {
	if _, ok := s.snap.Load().rings[name]; ok {
		return nil
	}
	_, err := s.CreateRing(ctx, name, mayfly.ES256, mayfly.DefaultKeyLifetime, nil)
	if mayfly.ErrorCode(err) == mayfly.Conflict {
		return nil
	}
	return err
}

// Rings lists the key rings.
func (s *Service) Rings() []*mayfly.Ring {
	snap := s.snap.Load()
	out := make([]*mayfly.Ring, 0, len(snap.rings))
	for _, r := range snap.rings {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ring returns one ring.
func (s *Service) Ring(name string) (*mayfly.Ring, error) {
	r, ok := s.snap.Load().rings[name]
	if !ok {
		return nil, mayfly.Errorf(mayfly.NotFound, "ring %q not found", name)
	}
	return r, nil
}

// Keys lists every key, oldest first, optionally of one ring.
func (s *Service) Keys(ring string) []*mayfly.Key {
	var out []*mayfly.Key
	for _, k := range s.snap.Load().keys {
		if ring == "" || k.Ring == ring {
			out = append(out, k)
		}
	}
	return out
}

// Key returns one key's metadata.
func (s *Service) Key(kid string) (*mayfly.Key, error) {
	for _, k := range s.snap.Load().keys {
		if k.KID == kid {
			return k, nil
		}
	}
	return nil, mayfly.Errorf(mayfly.NotFound, "key %q not found", kid)
}

// Rotate makes the ring's next key sign now. The key it replaces retires.
func (s *Service) Rotate(ctx context.Context, ring string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// Decide from the stored state: another replica may have rotated.
	now := s.cfg.Clock.Now()
	if err := s.reloadLocked(ctx, now); err != nil {
		return err
	}
	snap := s.snap.Load()
	if _, ok := snap.rings[ring]; !ok {
		return mayfly.Errorf(mayfly.NotFound, "ring %q not found", ring)
	}
	for _, k := range snap.keys {
		// A next key published recently may be missing from verifiers'
		// cached JWKS: refuse to make it sign yet. A ring that is itself
		// that new has no older JWKS in anyone's cache. (Revoking the active
		// key promotes the next one regardless: an emergency outranks caches.)
		if k.Ring == ring && k.State(now) == mayfly.KeyNext && now.Sub(k.CreatedAt) < mayfly.MinPublication &&
			now.Sub(snap.rings[ring].CreatedAt) >= mayfly.MinPublication {
			return mayfly.Errorf(mayfly.Conflict, "ring %q: its next key %s was published %s ago; rotating before %s would hand verifiers a key their cached JWKS lacks; retry in %s",
				ring, k.KID, now.Sub(k.CreatedAt).Round(time.Second), mayfly.MinPublication, (mayfly.MinPublication - now.Sub(k.CreatedAt)).Round(time.Second))
		}
	}
	return s.maintainLocked(ctx, change{rotate: ring})
}

// Revoke withdraws a key at once: it leaves the JWKS, its tokens stop
// verifying, and its material is destroyed. If it was signing, the ring's
// next key takes over.
func (s *Service) Revoke(ctx context.Context, kid, reason string) (*mayfly.Revocation, error) {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.reloadLocked(ctx, s.cfg.Clock.Now()); err != nil {
		return nil, err
	}
	k, err := s.Key(kid)
	if err != nil {
		return nil, err
	}
	if !k.RevokedAt.IsZero() {
		return nil, mayfly.Errorf(mayfly.Conflict, "key %q is already revoked", kid)
	}
	rev := &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: kid, At: s.cfg.Clock.Now().UTC(), Reason: reason}
	return rev, s.maintainLocked(ctx, change{revoke: []*mayfly.Revocation{rev}})
}

// Rekey withdraws every key of a ring that was made before cutoff and is
// still published (next, active or retiring), for when someone who could
// have copied their material must not be able to use it: the ring gets a
// fresh active and next key in the same step, the old keys leave the JWKS,
// their tokens are rejected and their material is destroyed. Keys made at
// or after cutoff are kept, so calling it again changes nothing. It returns
// the kids it revoked. also, if not nil, runs in the transaction that
// revokes them, with their kids; it does not run if there are none.
func (s *Service) Rekey(ctx context.Context, ring string, cutoff time.Time, reason string, also func(tx mayfly.Tx, kids []string) error) ([]string, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := s.cfg.Clock.Now()
	if err := s.reloadLocked(ctx, now); err != nil {
		return nil, err
	}
	if _, err := s.Ring(ring); err != nil {
		return nil, err
	}
	var revs []*mayfly.Revocation
	var kids []string
	for _, k := range s.Keys(ring) {
		if k.Published(now) && k.CreatedAt.Before(cutoff) {
			revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: k.KID, At: now.UTC(), Reason: reason})
			kids = append(kids, k.KID)
		}
	}
	if len(revs) == 0 {
		return nil, nil
	}
	ch := change{revoke: revs}
	if also != nil {
		ch.also = func(tx mayfly.Tx) error { return also(tx, kids) }
	}
	if err := s.maintainLocked(ctx, ch); err != nil {
		return nil, err
	}
	s.cfg.Log.Warn("ring rekeyed: every key made before the cutoff revoked", "ring", ring, "kids", kids, "reason", reason)
	return kids, nil
}

// Reseal seals again, under the sealer's current root key, all key
// material sealed under an older one, for a root key rotation.
func (s *Service) Reseal(ctx context.Context) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	all, err := s.cfg.Store.Keys(ctx)
	if err != nil {
		return mayfly.E("keys.Reseal", err)
	}
	var save []*mayfly.Key
	for _, k := range all {
		if len(k.Sealed) == 0 || s.cfg.Sealer.Current(k.Sealed) {
			continue
		}
		der, err := s.cfg.Sealer.Open(k.Sealed, aad(k.KID))
		if err != nil {
			return mayfly.E("keys.Reseal", fmt.Errorf("key %s: %w", k.KID, err))
		}
		k.Sealed, err = s.cfg.Sealer.Seal(s.cfg.Rand, der, aad(k.KID))
		clear(der)
		if err != nil {
			return mayfly.E("keys.Reseal", err)
		}
		save = append(save, k)
	}
	if len(save) > 0 {
		// The same keys, wrapped anew: no change for the audit log.
		err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error { return s.cfg.Store.SaveKeys(tx, save) })
		if err != nil {
			return mayfly.E("keys.Reseal", err)
		}
	}
	return s.reloadLocked(ctx, s.cfg.Clock.Now())
}

// Maintain brings every ring's schedule up to date: it promotes or creates
// keys so each ring has one signing and one published next key, and destroys
// the material of keys that no longer sign.
func (s *Service) Maintain(ctx context.Context) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.maintainLocked(ctx, change{})
}

// Reload replaces the in-memory view with the stored rings and keys, after
// another process changed them. It changes nothing in the store.
func (s *Service) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(ctx, s.cfg.Clock.Now())
}

// change is what a caller asks of maintainLocked besides bringing every
// schedule up to date: a ring to create, one to rotate now, keys to revoke,
// entries that record the request itself, and more to write with it.
type change struct {
	ring    *mayfly.Ring
	rotate  string
	revoke  []*mayfly.Revocation
	entries []mayfly.AuditEntry
	also    func(tx mayfly.Tx) error
}

// maintainLocked brings every ring's schedule up to date from the stored
// state, with ch applied first, and commits all of it, its audit entries
// included, in one step: a revoked key's successor starts signing in the
// step that revokes it.
func (s *Service) maintainLocked(ctx context.Context, ch change) error {
	const op = "keys.Maintain"
	now := s.cfg.Clock.Now().UTC()
	rings, err := s.cfg.Store.Rings(ctx)
	if err != nil {
		return mayfly.E(op, err)
	}
	all, err := s.cfg.Store.Keys(ctx)
	if err != nil {
		return mayfly.E(op, err)
	}
	if ch.ring != nil {
		rings = append(rings, ch.ring)
	}
	var save []*mayfly.Key
	var destroy []string
	entries := ch.entries
	if ch.rotate != "" {
		entries = append(entries, mayfly.AuditEntry{Action: mayfly.ActionRingRotated, Ring: ch.rotate})
	}
	revoked := map[string]*mayfly.Revocation{}
	for _, r := range ch.revoke {
		revoked[r.Subject] = r
	}
	ringOf := map[string]string{}
	for _, k := range all {
		ringOf[k.KID] = k.Ring
		if r := revoked[k.KID]; r != nil && k.RevokedAt.IsZero() {
			k.RevokedAt = r.At
			save = append(save, k)
		}
	}
	var created []*mayfly.Key
	for _, r := range rings {
		var ringKeys []*mayfly.Key
		for _, k := range all {
			if k.Ring == r.Name {
				ringKeys = append(ringKeys, k)
			}
		}
		changed, starts := schedule(r, s.lifetime(r), ringKeys, now, r.Name == ch.rotate)
		save = append(save, changed...)
		for _, k := range changed {
			entries = append(entries, keyEntry(mayfly.ActionKeyScheduled, k))
		}
		if len(starts) > 0 && s.cfg.CanSeal != nil {
			if err := s.cfg.CanSeal(ctx); err != nil {
				return mayfly.E(op, err)
			}
		}
		for _, at := range starts {
			k, err := s.newKey(r, at, s.lifetime(r), now)
			if err != nil {
				return mayfly.E(op, err)
			}
			save = append(save, k)
			all = append(all, k)
			created = append(created, k)
			entries = append(entries, keyEntry(mayfly.ActionKeyCreated, k))
		}
	}
	for _, k := range all {
		if len(k.Sealed) > 0 && (k.State(now) == mayfly.KeyRetired || k.State(now) == mayfly.KeyRevoked || !now.Before(k.DeactivateAt)) {
			destroy = append(destroy, k.KID)
			entries = append(entries, mayfly.AuditEntry{Action: mayfly.ActionKeyDestroyed, KID: k.KID})
		}
	}
	if ch.ring == nil && len(ch.revoke) == 0 && len(save) == 0 && len(destroy) == 0 {
		return s.reloadLocked(ctx, now)
	}
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if ch.ring != nil {
			if err := s.cfg.Store.CreateRing(tx, ch.ring); err != nil {
				return err
			}
		}
		if err := s.cfg.Revoker.Revoke(tx, ch.revoke...); err != nil {
			return err
		}
		for _, r := range ch.revoke {
			if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionKeyRevoked, KID: r.Subject, Ring: ringOf[r.Subject],
				Details: map[string]string{"reason": r.Reason, "seq": fmt.Sprint(r.Seq)}}); err != nil {
				return err
			}
		}
		if len(save) > 0 {
			if err := s.cfg.Store.SaveKeys(tx, save); err != nil {
				return err
			}
		}
		if len(destroy) > 0 {
			if err := s.cfg.Store.DestroyKeyMaterial(tx, destroy); err != nil {
				return err
			}
		}
		for _, e := range entries {
			if _, err := tx.Audit(e); err != nil {
				return err
			}
		}
		if ch.also != nil {
			return ch.also(tx)
		}
		return nil
	})
	if err != nil {
		return mayfly.E(op, err)
	}
	for _, k := range created {
		s.cfg.Log.Info("signing key created", "ring", k.Ring, "kid", k.KID, "alg", k.Alg, "activate_at", k.ActivateAt, "deactivate_at", k.DeactivateAt)
	}
	for _, kid := range destroy {
		s.cfg.Log.Info("signing key material destroyed", "kid", kid)
	}
	return s.reloadLocked(ctx, now)
}

func keyEntry(action mayfly.Action, k *mayfly.Key) mayfly.AuditEntry {
	return mayfly.AuditEntry{Action: action, KID: k.KID, Ring: k.Ring, Details: map[string]string{
		"alg": string(k.Alg), "activate_at": k.ActivateAt.Format(time.RFC3339Nano),
		"deactivate_at": k.DeactivateAt.Format(time.RFC3339Nano), "retire_at": k.RetireAt.Format(time.RFC3339Nano),
	}}
}

// lifetime is the ring's lifetime, cut to the ceiling in force now, so that
// lowering the ceiling shortens rings made under an override.
func (s *Service) lifetime(r *mayfly.Ring) time.Duration {
	return min(r.Lifetime, s.Ceiling())
}

// schedule decides, for one ring at now, which keys change their window and
// when new keys must start. Each ring keeps one active and one next key.
// With rotate, the active key stops signing now and the next key takes over.
func schedule(r *mayfly.Ring, lifetime time.Duration, keys []*mayfly.Key, now time.Time, rotate bool) (changed []*mayfly.Key, starts []time.Time) {
	var active, next *mayfly.Key
	for _, k := range keys {
		switch k.State(now) {
		case mayfly.KeyActive:
			active = k
		case mayfly.KeyNext:
			if next == nil || k.ActivateAt.Before(next.ActivateAt) {
				next = k
			}
		}
	}
	window := func(k *mayfly.Key, from time.Time) {
		k.ActivateAt, k.DeactivateAt = from, from.Add(lifetime)
		k.RetireAt = k.DeactivateAt.Add(mayfly.MaxTokenTTL)
	}
	if active != nil && (rotate || active.DeactivateAt.Sub(active.ActivateAt) > lifetime) {
		end := now
		if !rotate {
			// The ceiling was lowered: stop at the new window's end, or now
			// if the key has already signed past it.
			if end = active.ActivateAt.Add(lifetime); end.Before(now) {
				end = now
			}
		}
		active.DeactivateAt, active.RetireAt = end, end.Add(mayfly.MaxTokenTTL)
		changed = append(changed, active)
		if !now.Before(end) {
			active = nil
		}
	}
	if active == nil {
		if next != nil {
			window(next, now)
			changed = append(changed, next)
			active, next = next, nil
		} else {
			// A new ring, or the service was down past every key's window:
			// nothing published can sign, so a fresh key must start at once.
			starts = append(starts, now)
			starts = append(starts, now.Add(lifetime))
			return changed, starts
		}
	}
	if next == nil {
		starts = append(starts, active.DeactivateAt)
	} else if !next.ActivateAt.Equal(active.DeactivateAt) {
		window(next, active.DeactivateAt)
		changed = append(changed, next)
	}
	return changed, starts
}

func (s *Service) newKey(r *mayfly.Ring, from time.Time, lifetime time.Duration, now time.Time) (*mayfly.Key, error) {
	priv, err := generate(r.Alg, s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	thumb, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	k := &mayfly.Key{
		KID: base64.RawURLEncoding.EncodeToString(thumb[:16]), Ring: r.Name, Alg: r.Alg, Public: pub,
		CreatedAt: now, ActivateAt: from, DeactivateAt: from.Add(lifetime), RetireAt: from.Add(lifetime + mayfly.MaxTokenTTL),
	}
	k.Sealed, err = s.cfg.Sealer.Seal(s.cfg.Rand, der, aad(k.KID))
	clear(der)
	return k, err
}

func aad(kid string) []byte { return []byte("mayfly signing key " + kid) }

func generate(alg mayfly.Alg, rand io.Reader) (crypto.Signer, error) {
	switch alg {
	case mayfly.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	case mayfly.RS256:
		return rsa.GenerateKey(rand, 2048)
	case mayfly.EdDSA:
		_, priv, err := ed25519.GenerateKey(rand)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// reloadLocked rebuilds the snapshot from the store.
func (s *Service) reloadLocked(ctx context.Context, now time.Time) error {
	const op = "keys.reload"
	rings, err := s.cfg.Store.Rings(ctx)
	if err != nil {
		return mayfly.E(op, err)
	}
	keys, err := s.cfg.Store.Keys(ctx)
	if err != nil {
		return mayfly.E(op, err)
	}
	old := s.snap.Load()
	snap := &snapshot{rings: map[string]*mayfly.Ring{}, keys: keys, public: map[string]*publicKey{}, signers: map[string][]*Signer{}}
	for _, r := range rings {
		snap.rings[r.Name] = r
	}
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return mayfly.E(op, fmt.Errorf("key %s: %w", k.KID, err))
		}
		snap.public[k.KID] = &publicKey{key: k, pub: pub}
		if len(k.Sealed) == 0 || !k.RevokedAt.IsZero() || !now.Before(k.DeactivateAt) {
			continue
		}
		sg, err := s.signer(ctx, old, k)
		if err != nil {
			return mayfly.E(op, err)
		}
		snap.signers[k.Ring] = append(snap.signers[k.Ring], sg)
	}
	s.snap.Store(snap)
	// A Signer whose window changed or whose key is gone must not sign
	// again, even for a request that fetched it before the change.
	kept := map[*Signer]bool{}
	for _, sgs := range snap.signers {
		for _, sg := range sgs {
			kept[sg] = true
		}
	}
	for _, sgs := range old.signers {
		for _, sg := range sgs {
			if !kept[sg] {
				sg.retire()
			}
		}
	}
	return nil
}

// signer returns a Signer for k, reusing the previous snapshot's to avoid
// unsealing again when the key's window is unchanged.
func (s *Service) signer(ctx context.Context, old *snapshot, k *mayfly.Key) (*Signer, error) {
	for _, sg := range old.signers[k.Ring] {
		if sg.kid == k.KID && sg.from.Equal(k.ActivateAt) && sg.until.Equal(k.DeactivateAt) {
			return sg, nil
		}
	}
	der, err := s.cfg.Sealer.Open(k.Sealed, aad(k.KID))
	if err != nil && s.cfg.CanSeal != nil {
		// Sealed by a replica that has replaced the root key: pick the
		// new root key up, if this replica can, and try again.
		if s.cfg.CanSeal(ctx) == nil {
			der, err = s.cfg.Sealer.Open(k.Sealed, aad(k.KID))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	return newSigner(k, priv.(crypto.Signer), s.Ceiling(), s.cfg.Rand)
}

// Signer returns the key that signs for ring now. If the schedule has fallen
// behind (no key's window covers now), it catches up first.
func (s *Service) Signer(ctx context.Context, ring string) (*Signer, error) {
	if sg := s.snap.Load().signing(ring, s.cfg.Clock.Now(), s.cfg.Revoker); sg != nil {
		return sg, nil
	}
	if _, ok := s.snap.Load().rings[ring]; !ok {
		return nil, mayfly.Errorf(mayfly.NotFound, "ring %q not found", ring)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Requests that queued here while another caught up find its result.
	if sg := s.snap.Load().signing(ring, s.cfg.Clock.Now(), s.cfg.Revoker); sg != nil {
		return sg, nil
	}
	if err := s.maintainLocked(ctx, change{}); err != nil {
		return nil, err
	}
	if sg := s.snap.Load().signing(ring, s.cfg.Clock.Now(), s.cfg.Revoker); sg != nil {
		return sg, nil
	}
	return nil, mayfly.Errorf(mayfly.Unavailable, "ring %q has no signing key", ring)
}

// WithSigner calls sign with the ring's current Signer and returns the
// Signer and what sign made. If that key is rotated or revoked between
// fetching it and signing, it calls sign again with its successor.
func (s *Service) WithSigner(ctx context.Context, ring string, sign func(*Signer) (string, error)) (*Signer, string, error) {
	for try := 0; ; try++ {
		sg, err := s.Signer(ctx, ring)
		if err != nil {
			return nil, "", err
		}
		raw, err := sign(sg)
		if err == nil || try == 2 || err != errRetired {
			return sg, raw, err
		}
	}
}

// signing returns the ring's Signer for now. A key revoked by another
// process is passed over even before this one reloads its keys.
func (snap *snapshot) signing(ring string, now time.Time, rv *revoke.Service) *Signer {
	for _, sg := range snap.signers[ring] {
		if sg.covers(now) && !sg.isRetired() && !rv.Revoked(mayfly.RevokeKey, sg.kid) {
			return sg
		}
	}
	return nil
}

// Unsigned returns the rings, by name, in which no key can sign now: a
// token for them would wait for the schedule to catch up first, or fail.
// None is the normal state.
func (s *Service) Unsigned() []string {
	snap, now := s.snap.Load(), s.cfg.Clock.Now()
	var out []string
	for name := range snap.rings {
		if snap.signing(name, now, s.cfg.Revoker) == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// NextChange returns when the next key changes state, so the caller knows
// when to run Maintain again.
func (s *Service) NextChange() time.Time {
	now := s.cfg.Clock.Now()
	var next time.Time
	for _, k := range s.snap.Load().keys {
		if !k.RevokedAt.IsZero() {
			continue
		}
		for _, t := range []time.Time{k.ActivateAt, k.DeactivateAt, k.RetireAt} {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// JWKS returns the public keys published now: next, active and retiring.
func (s *Service) JWKS() jose.JSONWebKeySet {
	set, _ := s.jwks(s.snap.Load(), s.cfg.Clock.Now())
	return set
}

// JWKSJSON is JWKS as JSON. It is built once per snapshot and kept until a
// key leaves the set, since verifiers fetch it often and it rarely changes.
func (s *Service) JWKSJSON() ([]byte, error) {
	snap := s.snap.Load()
	now := s.cfg.Clock.Now()
	seq := s.cfg.Revoker.Version()
	if c := snap.jwksCache.Load(); c != nil && c.seq == seq && !now.Before(c.from) && now.Before(c.until) {
		return c.body, nil
	}
	set, until := s.jwks(snap, now)
	body, err := json.Marshal(set)
	if err != nil {
		return nil, mayfly.E("keys.JWKSJSON", err)
	}
	snap.jwksCache.Store(&jwksCache{body: body, seq: seq, from: now, until: until})
	return body, nil
}

type jwksCache struct {
	body        []byte
	seq         int64 // the revocation state's version
	from, until time.Time
}

// jwks returns the set published at now and when it next changes. A key
// revoked is left out even before the snapshot learns of it.
func (s *Service) jwks(snap *snapshot, now time.Time) (jose.JSONWebKeySet, time.Time) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	until := now.Add(time.Hour)
	for _, k := range snap.keys {
		if !k.Published(now) || s.cfg.Revoker.Revoked(mayfly.RevokeKey, k.KID) {
			continue
		}
		if k.RetireAt.Before(until) {
			until = k.RetireAt
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: snap.public[k.KID].pub, KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
	}
	return set, until
}

// VerificationKey returns the public key for a token signed with kid, if a
// token signed by it may still be accepted now: the key is active or
// retiring and not revoked. A next key has never signed, so a token naming
// one is forged.
func (s *Service) VerificationKey(kid string) (*mayfly.Key, crypto.PublicKey, bool) {
	pk, ok := s.snap.Load().public[kid]
	if !ok {
		return nil, nil, false
	}
	switch pk.key.State(s.cfg.Clock.Now()) {
	case mayfly.KeyActive, mayfly.KeyRetiring:
		return pk.key, pk.pub, true
	}
	return nil, nil, false
}
