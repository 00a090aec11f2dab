// Package refresh owns refresh tokens that rotate: it begins a family of
// them for a subject at a client, replaces the token presented with the
// next on each use, and treats a retired token presented again as theft.
//
// # Invariants
//
//   - A token is 256 random bits, shown once, after the family's ID and
//     its generation, which say where it is stored; only its SHA-256 is
//     stored. A token that names a family and generation but not their
//     hash is unknown, and nothing is done to the family.
//   - A family has one current token, its latest generation. Rotation
//     checks that the token presented is the current one and stores its
//     successor, which retires it, in one transaction; a generation has
//     one successor at most (a compare-and-swap on the family's
//     generation), so two uses of one token never both rotate it.
//   - A retired token presented again revokes its whole family at once,
//     and with it (a RevokeSession revocation of the family's ID, the sid
//     claim) every access token the family produced; the revocation, the
//     family's revocation and the refresh.reused entry commit together.
//   - One exception, the grace retry: a client that got no answer may
//     present the token it just used once more, within the grace window,
//     while its successor has never been used. It gets a new successor,
//     and the unused one is retired; presenting that one later is reuse.
//     A presentation within RetryGap of the use is not a retry but a
//     second use at once, and reuse: a client retries only once its
//     request has failed, which takes longer.
//   - A token is refused (invalid_grant) when unknown, of another client
//     (which is not reuse), of a revoked family, past its family's idle or
//     absolute lifetime, begun before its subject's not-before mark, or,
//     for a family bound to a DPoP key, without a proof by that key.
//   - Tokens commit in batches, with one refresh_tokens.issued entry per
//     batch whose digest names every token issued (see digest).
package refresh

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// DefaultGrace is how long after a token's use the same token may be
// presented once more by a client that got no answer.
const DefaultGrace = 10 * time.Second

// RetryGap is how soon after a token's use a presentation of it counts as
// a second use at once rather than a retry: two requests with one token
// at once leave one answered and the family revoked, as theft.
const RetryGap = time.Second

// A refresh token is "FAMILY.GENERATION.SECRET": the family's ID, the
// token's generation in decimal, and 32 random bytes in base64url. The
// store finds a token by its family and generation, the primary key of
// its row: a rotation then writes its two tokens' rows side by side, in
// one page, where a key by hash wrote two pages at random places
// (BENCHMARKS.md "Refresh tokens").
const (
	secretLen   = 43
	familyIDLen = 3 + 26 // "rf_" and 128 bits in base32hex
	// maxTokenLen bounds a token: the family, a generation of up to 19
	// digits, the secret, and two dots.
	maxTokenLen = familyIDLen + 19 + secretLen + 2
)

// format returns the token of a family's generation with secret.
func format(familyID string, generation int64, secret string) string {
	return familyID + "." + strconv.FormatInt(generation, 10) + "." + secret
}

// Parse returns the family and generation a refresh token names, or an
// error if it is not one's form. It reads untrusted input: a generation
// is canonical decimal from 1, and the family and secret are of their
// alphabets and lengths.
func Parse(raw string) (familyID string, generation int64, err error) {
	bad := invalidGrant("the refresh token is not valid")
	if len(raw) > maxTokenLen {
		return "", 0, bad
	}
	fam, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return "", 0, bad
	}
	gen, secret, ok := strings.Cut(rest, ".")
	if !ok || !validFamilyID(fam) || len(secret) != secretLen || !base64URL(secret) {
		return "", 0, bad
	}
	if gen == "" || gen[0] == '0' || strings.Trim(gen, "0123456789") != "" {
		return "", 0, bad
	}
	n, err := strconv.ParseInt(gen, 10, 64)
	if err != nil || n < 1 {
		return "", 0, bad
	}
	return fam, n, nil
}

// validFamilyID reports whether id is of a family ID's form: "rf_" and
// 26 characters of lowercase base32hex.
func validFamilyID(id string) bool {
	if len(id) != familyIDLen || !strings.HasPrefix(id, "rf_") {
		return false
	}
	for _, c := range []byte(id[3:]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'v') {
			return false
		}
	}
	return true
}

// base64URL reports whether s is of the unpadded base64url alphabet.
func base64URL(s string) bool {
	for _, c := range []byte(s) {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// Revoker writes revocations in a transaction (revoke.Service).
type Revoker interface {
	Revoke(tx mayfly.Tx, rs ...*mayfly.Revocation) error
}

// Alerter raises alerts in a transaction (alert.Service).
type Alerter interface {
	Raise(tx mayfly.Tx, signals []mayfly.AlertSignal) ([]*mayfly.Alert, error)
}

// Config configures a Service.
type Config struct {
	Store   mayfly.RefreshStore
	Revoker Revoker
	// NotBefore returns the latest not-before mark covering a subject:
	// its own (revocation kind "sub") or its namespace's ("ns"). A family
	// begun before it is refused. Nil: no marks.
	NotBefore func(subject string) time.Time
	// Alerts, if set, gets a refresh-reuse alert for each theft.
	Alerts Alerter
	Audit  mayfly.BatchUpdater
	Clock  mayfly.Clock
	Rand   io.Reader
	Log    *slog.Logger
	// Grace is the window for a retry; zero means DefaultGrace, a
	// negative value none.
	Grace time.Duration
}

// Service begins and rotates refresh token families.
type Service struct {
	cfg Config
	// batch writes a commit's families begun and rotations together,
	// with one entry for the tokens they issued.
	batch *mayfly.Batch[*op]
}

// op is one family begun, or one rotation, waiting to commit.
type op struct {
	fam *mayfly.RefreshFamily
	tok *mayfly.RefreshToken
	// cond, if set, says in the commit whether the family may begin
	// after all (its subject token's jti was spent).
	cond func() bool
	rot  *mayfly.RefreshRotation
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg}
	s.batch = &mayfly.Batch[*op]{Order: mayfly.OrderSession, Write: s.commit}
	return s
}

// commit writes a commit's families begun and rotations, with one entry
// for the tokens they issued.
func (s *Service) commit(tx mayfly.Tx, ops []*op) (err error) {
	var fams []*mayfly.RefreshFamily
	var firsts []*mayfly.RefreshToken
	var rots []*mayfly.RefreshRotation
	for _, o := range ops {
		switch {
		case o.rot != nil:
			rots = append(rots, o.rot)
		case o.cond == nil || o.cond():
			fams, firsts = append(fams, o.fam), append(firsts, o.tok)
		}
	}
	defer func() {
		if err != nil { // nothing rotated: the records that depend on it must not be written
			for _, r := range rots {
				r.Rotated = false
			}
		}
	}()
	if err := s.cfg.Store.CreateRefreshFamilies(tx, fams, firsts); err != nil {
		return err
	}
	if err := s.cfg.Store.RotateRefresh(tx, rots); err != nil {
		return err
	}
	issued := firsts
	for _, r := range rots {
		if r.Rotated {
			issued = append(issued, r.Next)
		}
	}
	if len(issued) == 0 {
		return nil
	}
	_, err = tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionRefreshIssued, Actor: "mayfly", Details: digest(issued)})
	return err
}

// digest commits an audit entry to a batch of refresh tokens: the SHA-256
// of one line per token, "hash family generation source issued_at"
// separated by tabs, the hash in hex, the time in Unix nanoseconds, each
// line ending in a newline.
func digest(toks []*mayfly.RefreshToken) map[string]string {
	h := sha256.New()
	var b []byte
	for _, t := range toks {
		b = hex.AppendEncode(b[:0], t.Hash)
		for _, f := range []string{t.FamilyID, strconv.FormatInt(t.Generation, 10), t.Source} {
			b = append(append(b, '\t'), f...)
		}
		b = append(b, '\t')
		b = strconv.AppendInt(b, t.IssuedAt.UnixNano(), 10)
		h.Write(append(b, '\n'))
	}
	return map[string]string{"count": strconv.Itoa(len(toks)), "sha256": hex.EncodeToString(h.Sum(nil)),
		"first_family": toks[0].FamilyID, "last_family": toks[len(toks)-1].FamilyID}
}

// Hash is what is stored of a refresh token.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newToken returns a new refresh token of a family's generation, and its
// hash.
func (s *Service) newToken(familyID string, generation int64) (string, []byte, error) {
	var b [32]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		return "", nil, mayfly.E("refresh.newToken", err)
	}
	tok := format(familyID, generation, base64.RawURLEncoding.EncodeToString(b[:]))
	return tok, Hash(tok), nil
}

// Lifetimes returns a client's idle and absolute family lifetimes.
func Lifetimes(c *mayfly.Client) (idle, absolute time.Duration) {
	idle, absolute = c.RefreshIdle, c.RefreshAbsolute
	if idle <= 0 {
		idle = mayfly.DefaultRefreshIdle
	}
	if absolute <= 0 {
		absolute = mayfly.DefaultRefreshAbsolute
	}
	return idle, min(absolute, mayfly.MaxRefreshAbsolute)
}

// Begin begins a family for subject at client c, bound to the DPoP key
// jkt if not "", for a request from source. It returns the family and its
// first token, shown once, once the family is durable; nil and "" if c
// may not have refresh tokens.
func (s *Service) Begin(ctx context.Context, c *mayfly.Client, subject, jkt, source string) (*mayfly.RefreshFamily, string, error) {
	f, raw, item, err := s.Start(c, subject, jkt, source, nil)
	if err != nil || f == nil {
		return nil, "", err
	}
	if err := s.cfg.Audit.UpdateBatch(ctx, item); err != nil {
		return nil, "", mayfly.E("refresh.Begin", err)
	}
	return f, raw, nil
}

// Start is Begin for a caller that commits the family itself: it returns
// the item that writes the family (for UpdateBatch), which begins it only
// if cond, if not nil, reports true when the commit reaches it, after
// every item of a lower Order. The family and token are for the caller
// to hand out once the item committed, and only if cond held.
func (s *Service) Start(c *mayfly.Client, subject, jkt, source string, cond func() bool) (*mayfly.RefreshFamily, string, mayfly.BatchItem, error) {
	if !c.Refresh {
		return nil, "", mayfly.BatchItem{}, nil
	}
	if subject == "" {
		return nil, "", mayfly.BatchItem{}, mayfly.Errorf(mayfly.Invalid, "a refresh token family needs a subject")
	}
	var id [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, id[:]); err != nil {
		return nil, "", mayfly.BatchItem{}, mayfly.E("refresh.Start", err)
	}
	famID := "rf_" + strings.ToLower(idEncoding.EncodeToString(id[:]))
	raw, hash, err := s.newToken(famID, 1)
	if err != nil {
		return nil, "", mayfly.BatchItem{}, err
	}
	now := s.cfg.Clock.Now().UTC()
	idle, absolute := Lifetimes(c)
	f := &mayfly.RefreshFamily{ID: famID, ClientID: c.ID, Subject: subject, JKT: jkt,
		CreatedAt: now, LastUsed: now, IdleExpiresAt: now.Add(idle), ExpiresAt: now.Add(absolute), Current: 1}
	t := &mayfly.RefreshToken{Hash: hash, FamilyID: f.ID, Generation: 1, IssuedAt: now, Source: source}
	return f, raw, s.batch.Item(&op{fam: f, tok: t, cond: cond}), nil
}

// Prune deletes the families past their absolute lifetime, with their
// tokens: every one of them is refused already.
func (s *Service) Prune(ctx context.Context) error {
	_, err := s.cfg.Store.PruneRefresh(ctx, s.cfg.Clock.Now())
	return err
}

// invalidGrant is the refusal of a refresh token (RFC 6749 section 5.2
// invalid_grant). Its message is for the client: it does not say more
// than the client could know.
func invalidGrant(msg string) error {
	return &mayfly.Error{Code: mayfly.Invalid, Field: "refresh_token", Msg: msg}
}

// ErrReused is what Rotate returns for a retired token presented again.
var ErrReused = invalidGrant("the refresh token was already used; its session is revoked")

// Issuer makes the access token of a refresh of family fam, and returns
// the item that writes its record (for UpdateBatch), which must be
// written only if rotated reports true when the commit reaches it: the
// record is written only if the rotation was, in the same transaction.
type Issuer func(fam *mayfly.RefreshFamily, rotated func() bool) (mayfly.BatchItem, error)

// Rotate takes the refresh token raw from client c, with the DPoP key
// jkt of the request's proof ("" without one), from source. It retires
// the token and returns its family and the next token, shown once.
//
// issue, if not nil, makes the access token of the refresh once the
// family's checks pass; its record is written in the rotation's
// transaction, if the rotation was. If the record then fails, the
// rotation stands and Rotate returns the error: the client that got no
// answer may retry within the grace window. issue may be called again if
// the rotation loses to a concurrent one: only the last token it made
// may be handed out.
func (s *Service) Rotate(ctx context.Context, c *mayfly.Client, raw, jkt, source string, issue Issuer) (*mayfly.RefreshFamily, string, error) {
	famID, gen, err := Parse(raw)
	if err != nil {
		return nil, "", err
	}
	hash := Hash(raw)
	// A lost compare-and-swap means another request used the family
	// meanwhile: read it again and decide on what it did.
	for range 3 {
		tok, fam, err := s.cfg.Store.RefreshToken(ctx, famID, gen, hash)
		if mayfly.ErrorCode(err) == mayfly.NotFound {
			return nil, "", invalidGrant("the refresh token is not valid")
		}
		if err != nil {
			return nil, "", err
		}
		now := s.cfg.Clock.Now().UTC()
		if err := s.check(c, fam, jkt, now); err != nil {
			return nil, "", err
		}
		r := &mayfly.RefreshRotation{FamilyID: fam.ID, From: fam.Current}
		switch {
		case tok.Generation == fam.Current && !tok.Retired():
			r.Used = true
		case s.cfg.Grace > 0 && !tok.UsedAt.IsZero() && fam.Current == tok.Generation+1 && now.Sub(tok.UsedAt) >= RetryGap &&
			now.Sub(tok.UsedAt) <= s.cfg.Grace:
			// A retry: the successor is current, so it was never used.
			s.cfg.Log.Info("refresh token presented again within the grace window; its unused successor is replaced",
				"family", fam.ID, "generation", tok.Generation, "source", source)
		default:
			return nil, "", s.reused(ctx, fam, tok, source)
		}
		next, nextHash, err := s.newToken(fam.ID, fam.Current+1)
		if err != nil {
			return nil, "", err
		}
		idle, _ := Lifetimes(c)
		r.IdleExpiresAt = now.Add(idle)
		r.Next = &mayfly.RefreshToken{Hash: nextHash, FamilyID: fam.ID, Generation: fam.Current + 1, IssuedAt: now, Source: source}
		items := []mayfly.BatchItem{s.batch.Item(&op{rot: r})}
		if issue != nil {
			item, err := issue(fam, func() bool { return r.Rotated })
			if err != nil {
				return nil, "", err
			}
			items = append(items, item)
		}
		if err := s.cfg.Audit.UpdateBatch(ctx, items...); err != nil {
			return nil, "", mayfly.E("refresh.Rotate", err)
		}
		if r.Rotated {
			fam.Current, fam.LastUsed, fam.IdleExpiresAt = r.Next.Generation, now, r.IdleExpiresAt
			return fam, next, nil
		}
	}
	return nil, "", mayfly.Errorf(mayfly.Unavailable, "the refresh token's session is changing; try again")
}

// check refuses a family that client c may not refresh now.
func (s *Service) check(c *mayfly.Client, fam *mayfly.RefreshFamily, jkt string, now time.Time) error {
	switch {
	case fam.ClientID != c.ID:
		return invalidGrant("the refresh token was not issued to this client")
	case !c.Refresh:
		return mayfly.Errorf(mayfly.PermissionDenied, "this client may not use refresh tokens")
	case fam.Revoked():
		return invalidGrant("the refresh token's session is revoked")
	case !now.Before(fam.ExpiresAt):
		return invalidGrant("the refresh token's session has reached its absolute lifetime")
	case !now.Before(fam.IdleExpiresAt):
		return invalidGrant("the refresh token's session expired unused")
	case s.cfg.NotBefore != nil && fam.CreatedAt.Before(s.cfg.NotBefore(fam.Subject)):
		return invalidGrant("the refresh token's session began before its subject was logged out")
	case fam.JKT != "" && jkt != fam.JKT:
		return invalidGrant("the refresh token is bound to a DPoP key; the request must carry a proof by that key")
	}
	return nil
}

// reused revokes the family of a retired token presented again, with the
// session's revocation, an entry and an alert, and returns ErrReused.
func (s *Service) reused(ctx context.Context, fam *mayfly.RefreshFamily, tok *mayfly.RefreshToken, source string) error {
	now := s.cfg.Clock.Now().UTC()
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		done, err := s.cfg.Store.RevokeRefreshFamily(tx, fam.ID, now, "refresh token reused")
		if err != nil || !done {
			return err // revoked already, with its own entry
		}
		// Every access token of the family expires by then: none is
		// issued from it after this commits.
		rev := &mayfly.Revocation{Kind: mayfly.RevokeSession, Subject: fam.ID, Until: now.Add(mayfly.MaxTokenTTL), At: now,
			Reason: "refresh token reused"}
		if err := s.cfg.Revoker.Revoke(tx, rev); err != nil {
			return err
		}
		details := map[string]string{"family": fam.ID, "sub": fam.Subject, "generation": strconv.FormatInt(tok.Generation, 10),
			"retired_from": tok.UsedFrom, "reused_from": source, "seq": strconv.FormatInt(rev.Seq, 10)}
		if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionRefreshReused, Actor: "mayfly", Client: fam.ClientID, Details: details}); err != nil {
			return err
		}
		if s.cfg.Alerts == nil {
			return nil
		}
		retired := tok.UsedFrom
		if retired == "" {
			retired = "nowhere (replaced unused)"
		}
		_, err = s.cfg.Alerts.Raise(tx, []mayfly.AlertSignal{{Rule: mayfly.RuleRefreshReuse, Subject: "sub:" + fam.Subject,
			Summary: "a retired refresh token of " + fam.Subject + " was presented again from " + source + "; its session " + fam.ID + " is revoked",
			Evidence: mayfly.AlertEvidence{Time: now, SourceIP: source, ClientID: fam.ClientID, TokenSub: fam.Subject,
				Detail: "family " + fam.ID + " generation " + strconv.FormatInt(tok.Generation, 10) + ", used from " + retired}}})
		return err
	})
	if err != nil {
		return err
	}
	s.cfg.Log.Warn("refresh token reused: its family is revoked", "family", fam.ID, "sub", fam.Subject, "client", fam.ClientID,
		"retired_from", tok.UsedFrom, "reused_from", source)
	return ErrReused
}
