// Package token is the OAuth2 token service: it authenticates clients, mints
// RFC 9068 JWT access tokens, and introspects and revokes them.
//
// # Invariants
//
//   - A token is returned only after its issuance record is durable.
//   - A token is active only if its signature verifies under an active or
//     retiring key of the right algorithm, its typ is at+jwt, iss matches,
//     it is inside [nbf, exp), and neither its jti, kid, client nor the
//     client's owner is revoked.
//   - A token is active only in the one canonical form of package
//     sdk/canon, which the SDK's verifier requires too: the string a
//     verifier accepted is the token, and no other string passes for it.
package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/mayflyhq/mayfly/internal/memo"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// Config configures a Service.
type Config struct {
	Issuer        string // the issuer URL, also the default audience
	TokenEndpoint string // accepted as a client assertion's audience
	Store         mayfly.TokenStore
	Keys          *keys.Service
	Identity      *identity.Service
	Revoker       *revoke.Service
	Audit         mayfly.BatchUpdater // every change commits through it, with its entry
	Clock         mayfly.Clock
	Rand          io.Reader
	Log           *slog.Logger
	// Expensive bounds how many RSA signatures are made at once (each
	// issues a token at about a ninth of ES256's rate); nil bounds none.
	Expensive *limit.Gate
}

// Service issues, introspects and revokes access tokens.
type Service struct {
	cfg Config
	// records are issuance records, each commit's with one digest entry
	// in the audit log, which keeps issuance off the log's per-entry cost.
	records  *mayfly.Batch[*recordOp]
	recorded atomic.Int64
	// jtis are the jtis of client assertions and subject tokens, those
	// of concurrent requests in one commit.
	jtis    *mayfly.Batch[*jtiUse]
	keySets keySets
	// verified are tokens whose signature verified, by their SHA-256.
	verified *memo.Memory[*verified]
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, verified: memo.New[*verified](verifiedGeneration)}
	s.records = &mayfly.Batch[*recordOp]{Order: mayfly.OrderIssue, Write: s.record}
	s.jtis = &mayfly.Batch[*jtiUse]{Order: mayfly.OrderSpend, Write: s.useJTIs}
	return s
}

// recordOp is a token's issuance record waiting for its commit.
type recordOp struct {
	rec mayfly.Issuance
	// cond, if set, says in the commit whether the token may be handed
	// out after all, from what the commit wrote before (the subject
	// token's jti spent, the refresh token rotated); if not, its record
	// is not written.
	cond    func() bool
	written bool
}

// record writes the records of a commit's tokens that may be handed out,
// with one digest entry.
func (s *Service) record(tx mayfly.Tx, ops []*recordOp) error {
	var kept []*recordOp
	recs := make([]mayfly.Issuance, 0, len(ops))
	for _, o := range ops {
		if o.cond == nil || o.cond() {
			kept, recs = append(kept, o), append(recs, o.rec)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.cfg.Store.RecordIssuances(tx, recs); err != nil {
		return err
	}
	if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionTokensIssued, Actor: "mayfly", Details: digest(recs)}); err != nil {
		return err
	}
	for _, o := range kept {
		o.written = true
	}
	tx.AfterCommit(func() { s.recorded.Add(int64(len(recs))) })
	return nil
}

// digest commits an audit entry to a batch of issuance records: the SHA-256
// of one line per record, "jti kid client_id principal_id source_ip iat exp
// user_agent digest" separated by tabs, the user agent quoted as Go quotes
// strings, times in Unix seconds, digest the token's (canon.Digest), each
// line ending in a newline. Entries made before records kept the token's
// digest have lines without it.
func digest(recs []mayfly.Issuance) map[string]string {
	h := sha256.New()
	var b []byte
	for _, r := range recs {
		b = b[:0]
		for _, f := range []string{r.JTI, r.KID, r.ClientID, r.PrincipalID, r.SourceIP} {
			b = append(append(b, f...), '\t')
		}
		b = strconv.AppendInt(b, r.IssuedAt.Unix(), 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, r.ExpiresAt.Unix(), 10)
		b = append(b, '\t')
		b = strconv.AppendQuote(b, r.UserAgent)
		b = append(append(b, '\t'), r.Digest...)
		h.Write(append(b, '\n'))
	}
	return map[string]string{"count": strconv.Itoa(len(recs)), "sha256": hex.EncodeToString(h.Sum(nil)),
		"first_jti": recs[0].JTI, "last_jti": recs[len(recs)-1].JTI}
}

// Recorded is how many issuance records this service has made durable.
func (s *Service) Recorded() int64 { return s.recorded.Load() }

// Claims are an RFC 9068 access token's claims.
type Claims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  jwt.Audience `json:"aud"`
	Expiry    int64        `json:"exp"`
	NotBefore int64        `json:"nbf"`
	IssuedAt  int64        `json:"iat"`
	ID        string       `json:"jti"`
	ClientID  string       `json:"client_id"`
	Scope     string       `json:"scope,omitempty"`
	// Principal is the principal accountable for the client, so verifiers
	// can reject tokens of an offboarded owner without a lookup.
	Principal string `json:"principal,omitempty"`
	// Act names who acts for the subject (RFC 8693 section 4.1): the
	// client that exchanged a subject token for this one.
	Act *Actor `json:"act,omitempty"`
	// SID is the refresh family the token came from.
	SID string `json:"sid,omitempty"`
	// Cnf binds the token to a DPoP key (RFC 9449 section 6.1).
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// clone is a copy of cl that shares nothing with it: what the verified
// tokens' memory hands out must not change under another caller.
func (cl *Claims) clone() *Claims {
	c := *cl
	c.Audience = slices.Clone(cl.Audience)
	if cl.Act != nil {
		act := *cl.Act
		c.Act = &act
	}
	if cl.Cnf != nil {
		cnf := *cl.Cnf
		c.Cnf = &cnf
	}
	return &c
}

// Actor is an act claim.
type Actor struct {
	Subject string `json:"sub"`
}

// Confirmation is a cnf claim: the SHA-256 JWK thumbprint of the key a
// DPoP-bound token is bound to.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// Request is a token request from an authenticated client.
type Request struct {
	Scope     string   // space-separated; empty means all the client may have
	Audience  []string // RFC 8707 resource / audience; empty means the client's default
	SourceIP  string
	UserAgent string
	// Subject is the token's sub where it is not the client itself: a
	// customer, such as "customer:48213377", whom Actor (a client ID, the
	// act claim) acts for. SID names the refresh family the token comes
	// from. JKT binds the token to a DPoP key (cnf.jkt). All optional; the
	// grant that sets them has checked them.
	Subject, Actor, SID, JKT string
}

// Token is an issued access token.
type Token struct {
	AccessToken string
	// RefreshToken is set when the grant returns one; shown once.
	RefreshToken string
	// TokenType is "Bearer", or "DPoP" for a token bound to a key.
	TokenType string
	ExpiresIn int64
	Scope     string
	KID       string
	JTI       string
}

// Issue mints an access token for an authenticated client and returns
// it once its issuance record is durable.
func (s *Service) Issue(ctx context.Context, a *Authenticated, req Request) (*Token, error) {
	m, err := s.Mint(ctx, a, req)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Audit.UpdateBatch(ctx, s.Record(m, nil)); err != nil {
		return nil, mayfly.E("token.Issue", err)
	}
	return m.Token()
}

// Minted is a signed access token whose issuance record is not durable
// yet: it is handed out only once it is.
type Minted struct {
	tok *Token
	op  *recordOp
}

// Token returns the token, once its record committed: an error if the
// record was not written.
func (m *Minted) Token() (*Token, error) {
	if !m.op.written {
		return nil, mayfly.Errorf(mayfly.Internal, "token: the access token's issuance record was not written")
	}
	return m.tok, nil
}

// Record is the item that writes m's issuance record (for UpdateBatch);
// it is written only if cond, if not nil, reports true when the commit
// reaches it, after every item of a lower Order.
func (s *Service) Record(m *Minted, cond func() bool) mayfly.BatchItem {
	m.op.cond = cond
	return s.records.Item(m.op)
}

// Mint signs an access token for an authenticated client. Its record is
// written by the item Record returns.
func (s *Service) Mint(ctx context.Context, a *Authenticated, req Request) (*Minted, error) {
	c := a.client
	scope, err := grantScope(c, req.Scope)
	if err != nil {
		return nil, err
	}
	aud, err := s.grantAudience(c, req.Audience)
	if err != nil {
		return nil, err
	}
	var cl Claims
	var dg string
	signer, raw, err := s.cfg.Keys.WithSigner(ctx, c.Ring, func(sg *keys.Signer) (string, error) {
		// The token carries the time its client's checks began (see
		// Authenticated), unless the ring's key changed since: then the
		// new key's first instant, once the checks are made again.
		now := a.at
		if from := sg.From(); now.Before(from) {
			if err := s.recheck(ctx, a); err != nil {
				return "", err
			}
			now = from
		}
		jti, err := mayfly.NewJTI(now, s.cfg.Rand)
		if err != nil {
			return "", mayfly.E("token.Mint", err)
		}
		cl = Claims{
			Issuer: s.cfg.Issuer, Subject: cmp.Or(req.Subject, c.ID), Audience: aud, Expiry: now.Add(c.TokenTTL).Unix(), NotBefore: now.Unix(),
			IssuedAt: now.Unix(), ID: jti, ClientID: c.ID, Scope: scope, Principal: c.OwnerID, SID: req.SID,
		}
		if req.Actor != "" {
			cl.Act = &Actor{Subject: req.Actor}
		}
		if req.JKT != "" {
			cl.Cnf = &Confirmation{JKT: req.JKT}
		}
		payload, err := json.Marshal(cl)
		if err != nil {
			return "", mayfly.E("token.Mint", err)
		}
		if sg.Alg() == mayfly.RS256 {
			if err := s.cfg.Expensive.Acquire(ctx, "RSA signature"); err != nil {
				return "", err
			}
			defer s.cfg.Expensive.Release()
		}
		// The record names the token as every service that computes
		// canon.Digest from it does (a test holds the two equal).
		dg = sg.Digest(payload)
		return sg.Sign(payload, now)
	})
	if err != nil {
		return nil, err
	}
	rec := mayfly.Issuance{
		JTI: cl.ID, Digest: dg, KID: signer.KID(), ClientID: c.ID, PrincipalID: c.OwnerID, Subject: req.Subject, Actor: req.Actor, SessionID: req.SID,
		SourceIP:  req.SourceIP,
		UserAgent: truncate(req.UserAgent, 256), IssuedAt: time.Unix(cl.IssuedAt, 0), ExpiresAt: time.Unix(cl.Expiry, 0),
	}
	tok := &Token{AccessToken: raw, ExpiresIn: int64(c.TokenTTL / time.Second), Scope: scope, KID: signer.KID(), JTI: cl.ID, TokenType: "Bearer"}
	if req.JKT != "" {
		tok.TokenType = "DPoP"
	}
	return &Minted{tok: tok, op: &recordOp{rec: rec}}, nil
}

// Check refuses what Issue would refuse in req itself (its scope and
// audiences), without making a token: for a grant that must not change
// anything for a request Issue will refuse.
func (s *Service) Check(a *Authenticated, req Request) error {
	if _, err := grantScope(a.client, req.Scope); err != nil {
		return err
	}
	_, err := s.grantAudience(a.client, req.Audience)
	return err
}

// recheck makes a client's checks again for a token issued later than
// they began: the client must be the one authenticated, unchanged, and
// still usable.
func (s *Service) recheck(ctx context.Context, a *Authenticated) error {
	cur, err := s.cfg.Identity.Client(ctx, a.client.ID)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur.SecretHash, a.client.SecretHash) || cur.OwnerID != a.client.OwnerID {
		return errBadClient
	}
	return s.cfg.Identity.Usable(ctx, cur)
}

// truncate cuts s to at most n bytes, as a store can keep it.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	// What a request sends goes into a record: a store's text takes
	// valid UTF-8 without NULs (PostgreSQL's), nothing else.
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
}

// grantScope returns the scope to grant: what was asked for, if the client
// may have all of it, or everything the client may have.
func grantScope(c *mayfly.Client, requested string) (string, error) {
	want := strings.Fields(requested)
	if len(want) == 0 {
		return strings.Join(c.Scopes, " "), nil
	}
	var granted []string
	for _, sc := range want {
		if !slices.Contains(c.Scopes, sc) {
			return "", mayfly.InvalidField("scope", "scope %q is not allowed for this client", sc)
		}
		if !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	return strings.Join(granted, " "), nil
}

// grantAudience returns the audiences to put in the token. A client without
// configured audiences gets the issuer itself.
func (s *Service) grantAudience(c *mayfly.Client, requested []string) (jwt.Audience, error) {
	allowed := c.Audiences
	if len(allowed) == 0 {
		allowed = []string{s.cfg.Issuer}
	}
	if len(requested) == 0 {
		return jwt.Audience{allowed[0]}, nil
	}
	var aud jwt.Audience
	for _, a := range requested {
		if !slices.Contains(allowed, a) {
			return nil, mayfly.InvalidField("audience", "audience %q is not allowed for this client", a)
		}
		if !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	return aud, nil
}

// accepted lists the algorithms a Mayfly access token may carry. Parsing
// with it refuses "none" and every HMAC algorithm before any key is chosen.
var accepted = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// MaxTokenSize bounds what is parsed at all.
const MaxTokenSize = 8 << 10

// Verify checks a token completely and returns its claims. The error says
// why a token is not active; it is for logs, never for the token's holder.
//
// A token that verified once is found again by its SHA-256 (see
// internal/memo) and skips parsing and the signature, which are three
// quarters of an introspection's CPU; everything that can change (the
// key's state, the clock, revocations) is checked again every time.
func (s *Service) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxTokenSize {
		return nil, mayfly.Errorf(mayfly.Invalid, "token too large")
	}
	id := memo.Sum(raw)
	if v, ok := s.lookupVerified(id); ok {
		key, _, ok := s.cfg.Keys.VerificationKey(v.kid)
		if !ok || s.cfg.Revoker.Revoked(mayfly.RevokeKey, v.kid) {
			return nil, mayfly.Errorf(mayfly.Invalid, "key %q is unknown, revoked or not valid for verification", v.kid)
		}
		return s.checkClaims(v.claims.clone(), key)
	}
	cl, key, err := s.verifySignature(raw)
	if err != nil {
		return nil, err
	}
	// Cached before the checks that can change: a token refused now for
	// its time or a revocation is refused again by them, not by a parse.
	s.rememberVerified(id, verified{kid: key.KID, claims: *cl.clone()})
	return s.checkClaims(cl, key)
}

// verifySignature checks a token's form and signature and returns its
// claims and the key that signed it: what cannot change for the same
// string.
func (s *Service) verifySignature(raw string) (*Claims, *mayfly.Key, error) {
	// One spelling per token: the form is checked before anything is
	// parsed, and the signature's, once it has verified.
	if err := canon.Check(raw); err != nil {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "malformed token: %v", err)
	}
	jws, err := jose.ParseSignedCompact(raw, accepted)
	if err != nil {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "malformed token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "token must have one signature")
	}
	sig := jws.Signatures[0]
	h := sig.Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "token typ %q is not at+jwt", typ)
	}
	key, pub, ok := s.cfg.Keys.VerificationKey(h.KeyID)
	if !ok || s.cfg.Revoker.Revoked(mayfly.RevokeKey, h.KeyID) {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "key %q is unknown, revoked or not valid for verification", h.KeyID)
	}
	if h.Algorithm != string(key.Alg) {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "token alg %s does not match key alg %s", h.Algorithm, key.Alg)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "bad signature: %v", err)
	}
	if err := canon.CheckSignature(h.Algorithm, sig.Signature); err != nil {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "malformed token: %v", err)
	}
	// go-jose's JSON, as the SDK's verifier reads claims too: names match
	// fields in their exact case (JWT names are case-sensitive), so that
	// "Client_ID" is not client_id here and client_id there.
	var cl Claims
	if err := josejson.Unmarshal(payload, &cl); err != nil {
		return nil, nil, mayfly.Errorf(mayfly.Invalid, "malformed token: claims: %v", err)
	}
	return &cl, key, nil
}

// checkClaims checks what a token's claims say against the clock, the
// key that signed it and the revocations.
func (s *Service) checkClaims(cl *Claims, key *mayfly.Key) (*Claims, error) {
	now := s.cfg.Clock.Now().Unix()
	switch {
	case cl.Issuer != s.cfg.Issuer:
		return nil, mayfly.Errorf(mayfly.Invalid, "issuer %q is not this issuer", cl.Issuer)
	case cl.Expiry == 0 || now >= cl.Expiry:
		return nil, mayfly.Errorf(mayfly.Invalid, "token expired")
	case now < cl.NotBefore:
		return nil, mayfly.Errorf(mayfly.Invalid, "token not yet valid")
	// Only a holder of key material could make these; that is the incident
	// this service exists for, so bound what such a token could claim.
	case cl.Expiry-cl.IssuedAt > int64(mayfly.MaxTokenTTL/time.Second):
		return nil, mayfly.Errorf(mayfly.Invalid, "token lifetime exceeds %s", mayfly.MaxTokenTTL)
	case cl.IssuedAt < key.ActivateAt.Unix() || cl.IssuedAt > key.DeactivateAt.Unix():
		return nil, mayfly.Errorf(mayfly.Invalid, "token iat is outside its key's signing window")
	case cl.ID == "" || cl.ClientID == "":
		return nil, mayfly.Errorf(mayfly.Invalid, "token lacks jti or client_id")
	case s.cfg.Revoker.Revoked(mayfly.RevokeToken, cl.ID):
		return nil, mayfly.Errorf(mayfly.Invalid, "token revoked")
	case cl.SID != "" && s.cfg.Revoker.Revoked(mayfly.RevokeSession, cl.SID):
		return nil, mayfly.Errorf(mayfly.Invalid, "token's session (sid) is revoked")
	case issuedBefore(cl, s.cfg.Revoker.NotBefore(cl.ClientID)) || issuedBefore(cl, s.cfg.Revoker.NotBefore(cl.Principal)):
		return nil, mayfly.Errorf(mayfly.Invalid, "token was issued before its client's or principal's not-before mark")
	case issuedBefore(cl, s.cfg.Revoker.SubjectMark(cl.Subject)):
		// A customer logged out, or a whole namespace after a breach.
		return nil, mayfly.Errorf(mayfly.Invalid, "token was issued before its subject's not-before mark")
	case s.cfg.Revoker.Suspended(cl.ClientID) || (cl.Principal != "" && s.cfg.Revoker.Suspended(cl.Principal)):
		return nil, mayfly.Errorf(mayfly.Invalid, "token's client or principal is suspended")
	}
	return cl, nil
}

// issuedBefore reports whether the token was issued before mark. The
// jti carries the issue time to the millisecond, iat only to the second; a
// jti that disagrees with iat (only a forger's could) counts for nothing.
func issuedBefore(cl *Claims, mark time.Time) bool {
	if mark.IsZero() {
		return false
	}
	iat := time.Unix(cl.IssuedAt, 0)
	issued := iat
	if t, ok := mayfly.JTITime(cl.ID); ok && !t.Before(iat) && t.Before(iat.Add(time.Second)) {
		issued = t
	}
	return issued.Before(mark)
}

// Introspect returns the claims of an active token, or nil if it is not active.
func (s *Service) Introspect(ctx context.Context, raw string) *Claims {
	cl, err := s.Verify(raw)
	if err != nil {
		return nil
	}
	c, err := s.cfg.Identity.Client(ctx, cl.ClientID)
	if err != nil || s.cfg.Identity.Usable(ctx, c) != nil || (cl.Principal != "" && cl.Principal != c.OwnerID) {
		return nil
	}
	return cl
}

// Revoke is RFC 7009 revocation by the client the token was issued to.
// Tokens that do not verify are ignored, as the RFC asks.
func (s *Service) Revoke(ctx context.Context, a *Authenticated, raw string) error {
	c := a.client
	cl, err := s.Verify(raw)
	if err != nil {
		return nil
	}
	if cl.ClientID != c.ID {
		return mayfly.Errorf(mayfly.PermissionDenied, "the token was not issued to this client")
	}
	rev := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: cl.ID, Until: time.Unix(cl.Expiry, 0), Reason: "revoked by client"}
	return s.revoke(ctx, rev, c.ID, c.ID)
}

// revoke stores a token's revocation with its entry.
func (s *Service) revoke(ctx context.Context, rev *mayfly.Revocation, client, actor string) error {
	return s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Revoker.Revoke(tx, rev); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionTokenRevoked, Actor: actor, Client: client,
			Details: map[string]string{"jti": rev.Subject, "reason": rev.Reason, "seq": fmt.Sprint(rev.Seq)}})
		return err
	})
}

// RevokeJTI revokes one token by its ID, as an administrator.
func (s *Service) RevokeJTI(ctx context.Context, jti, reason string) (*mayfly.Revocation, error) {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	recs, err := s.cfg.Store.Issuances(ctx, mayfly.IssuanceFilter{JTI: jti, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, mayfly.Errorf(mayfly.NotFound, "no token with jti %q was issued", jti)
	}
	if s.cfg.Revoker.Revoked(mayfly.RevokeToken, jti) {
		return nil, mayfly.Errorf(mayfly.Conflict, "token %q is already revoked", jti)
	}
	rev := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: jti, Until: recs[0].ExpiresAt, Reason: reason}
	if err := s.revoke(ctx, rev, recs[0].ClientID, ""); err != nil {
		return nil, err
	}
	return rev, nil
}

// Issuances lists issuance records.
func (s *Service) Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error) {
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 1000
	}
	return s.cfg.Store.Issuances(ctx, f)
}
