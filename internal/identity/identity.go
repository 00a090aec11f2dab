// Package identity owns principals and the OAuth2 clients they own: creating
// them, validating them, issuing client secrets and revoking clients.
//
// # Invariants
//
//   - A client secret has 256 bits from the injected randomness, is returned
//     once by CreateClient, and is stored only as its SHA-256 hash.
//   - A service principal has a human owner; every client has an owner.
//   - Cached clients and principals are replaced, never mutated, so readers
//     on the token path need no lock beyond the map's.
package identity

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
)

// Config configures a Service.
type Config struct {
	Store   mayfly.IdentityStore
	Locks   mayfly.Coordinator // serializes status changes across processes
	Keys    *keys.Service
	Revoker *revoke.Service
	Audit   mayfly.Updater // every change commits through it, with its entry
	Clock   mayfly.Clock
	Rand    io.Reader
	Log     *slog.Logger
}

// Service manages principals and clients.
type Service struct {
	cfg Config

	mu         sync.RWMutex
	clients    map[string]cachedClient
	principals map[string]*mayfly.Principal // by ID
	// Staged are copies of clients and principals whose change is on its
	// way to the store: this process acts on them before the store says
	// so (see Stage), and Forget leaves them.
	stagedClients    map[string]*mayfly.Client
	stagedPrincipals map[string]*mayfly.Principal
	logins           map[[2]string]bool // admin credential and source address seen since start
	// reactivated is told of each reactivation (see OnReactivated).
	reactivated func(ctx context.Context, principalID string) error
}

// OnReactivated sets fn to be told of each reactivation once it is
// stored, for those who told others of the suspension.
func (s *Service) OnReactivated(fn func(ctx context.Context, principalID string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reactivated = fn
}

// New returns a Service.
func New(cfg Config) *Service {
	return &Service{cfg: cfg, clients: map[string]cachedClient{}, principals: map[string]*mayfly.Principal{},
		stagedClients: map[string]*mayfly.Client{}, stagedPrincipals: map[string]*mayfly.Principal{}, logins: map[[2]string]bool{}}
}

var (
	principalName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)
	idEncoding    = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// newID returns prefix followed by 80 random bits.
func (s *Service) newID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", mayfly.E("identity.newID", err)
	}
	return prefix + strings.ToLower(idEncoding.EncodeToString(b)), nil
}

// newSecret returns prefix followed by 256 random bits: a client secret
// or an admin credential's token.
func (s *Service) newSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", mayfly.E("identity.newSecret", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// CreatePrincipal creates a person or a service. A service needs a human owner.
func (s *Service) CreatePrincipal(ctx context.Context, name string, kind mayfly.PrincipalKind, owner string) (*mayfly.Principal, error) {
	return s.Create(ctx, PrincipalSpec{Name: name, Kind: kind, Owner: owner})
}

// PrincipalSpec is what a caller asks for when creating a principal.
type PrincipalSpec struct {
	Name  string
	Kind  mayfly.PrincipalKind
	Owner string // principal ID or name; required for a service
	// Identity provider attributes (SCIM).
	ExternalID, DisplayName, Email string
	// Suspended, if not empty, creates the principal suspended, for this
	// reason: as an identity provider may provision someone inactive.
	Suspended string
}

// checkAttributes bounds the provider attributes a principal may carry.
func checkAttributes(p *mayfly.Principal) error {
	for _, a := range []struct{ field, v string }{{"external_id", p.ExternalID}, {"display_name", p.DisplayName}, {"email", p.Email}} {
		if err := mayfly.CheckText(a.field, a.v, 256); err != nil {
			return err
		}
	}
	return nil
}

// Create creates a principal from spec.
func (s *Service) Create(ctx context.Context, spec PrincipalSpec) (*mayfly.Principal, error) {
	name, kind, owner := spec.Name, spec.Kind, spec.Owner
	if !principalName.MatchString(name) {
		return nil, mayfly.InvalidField("name", "principal name %q must be 1-128 letters, digits or . _ @ + - and start with a letter or digit", name)
	}
	if strings.HasPrefix(name, "prn_") {
		return nil, mayfly.InvalidField("name", "principal names may not start with prn_, which IDs use")
	}
	p := &mayfly.Principal{Name: name, Kind: kind, Status: mayfly.Active, CreatedAt: s.cfg.Clock.Now().UTC(),
		ExternalID: spec.ExternalID, DisplayName: spec.DisplayName, Email: spec.Email, Version: 1}
	if spec.Suspended != "" {
		p.Status, p.SuspendedBy, p.SuspendedAt = mayfly.Suspended, actorOf(ctx), p.CreatedAt
	}
	if err := checkAttributes(p); err != nil {
		return nil, err
	}
	switch kind {
	case mayfly.Human, mayfly.Service:
	default:
		return nil, mayfly.InvalidField("kind", "principal kind %q is not human or service", kind)
	}
	if owner != "" {
		// Read and created under the lock a suspension takes, so that a
		// service made as its owner is suspended is either held by the
		// suspension or refused by it.
		unlock, err := s.cfg.Locks.Lock(ctx, StatusLock)
		if err != nil {
			return nil, err
		}
		defer unlock()
		o, err := s.Fresh(ctx, owner)
		if err != nil {
			return nil, err
		}
		if o.Kind != mayfly.Human {
			return nil, mayfly.InvalidField("owner", "owner %q is a %s; owners are people", o.Name, o.Kind)
		}
		if o.Status != mayfly.Active {
			return nil, mayfly.InvalidField("owner", "owner %q is %s", o.Name, o.Status)
		}
		p.OwnerID = o.ID
	} else if kind == mayfly.Service {
		return nil, mayfly.InvalidField("owner", "a service principal needs a human owner")
	}
	var err error
	if p.ID, err = s.newID("prn_"); err != nil {
		return nil, err
	}
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.CreatePrincipal(tx, p); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionPrincipalCreated, Principal: p.ID,
			Details: map[string]string{"name": p.Name, "kind": string(p.Kind), "owner": p.OwnerID}})
		if err != nil || p.Status != mayfly.Suspended {
			return err
		}
		// Suspended from the start: there is nothing older to mark.
		_, err = tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionPrincipalSuspended, Principal: p.ID, Details: map[string]string{"reason": spec.Suspended}})
		return err
	})
	if mayfly.ErrorCode(err) == mayfly.Conflict {
		return nil, mayfly.Errorf(mayfly.Conflict, "principal %q already exists", name)
	}
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("principal created", "principal", p.ID, "name", p.Name, "kind", p.Kind)
	return p, nil
}

// Principal finds a principal by ID or name.
func (s *Service) Principal(ctx context.Context, ref string) (*mayfly.Principal, error) {
	s.mu.RLock()
	p, ok := s.stagedPrincipals[ref]
	if !ok {
		p, ok = s.principals[ref]
	}
	s.mu.RUnlock()
	if ok {
		return p, nil
	}
	return s.Fresh(ctx, ref)
}

// Principals lists every principal.
func (s *Service) Principals(ctx context.Context) ([]*mayfly.Principal, error) {
	return s.cfg.Store.Principals(ctx)
}

// Fresh reads a principal from the store, bypassing the cache: for
// decisions that must see every replica's latest change.
func (s *Service) Fresh(ctx context.Context, ref string) (*mayfly.Principal, error) {
	p, err := s.cfg.Store.Principal(ctx, ref)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil, mayfly.Errorf(mayfly.NotFound, "principal %q not found", ref)
	}
	if err == nil {
		s.mu.Lock()
		s.principals[p.ID] = p
		s.mu.Unlock()
	}
	return p, err
}

// UpdatePrincipal stores p's name and provider attributes, if p.Version is
// still the stored version. Status changes go through SetStatus and the
// offboarding workflow, which act on what a status change means.
func (s *Service) UpdatePrincipal(ctx context.Context, p *mayfly.Principal) error {
	if !principalName.MatchString(p.Name) || strings.HasPrefix(p.Name, "prn_") {
		return mayfly.InvalidField("name", "principal name %q must be 1-128 letters, digits or . _ @ + - and start with a letter or digit", p.Name)
	}
	if err := checkAttributes(p); err != nil {
		return err
	}
	cur, err := s.Fresh(ctx, p.ID)
	if err != nil {
		return err
	}
	next := *cur
	next.Name, next.ExternalID, next.DisplayName, next.Email = p.Name, p.ExternalID, p.DisplayName, p.Email
	next.Version, next.UpdatedAt = p.Version, s.cfg.Clock.Now().UTC()
	return s.save(ctx, &next, mayfly.ActionPrincipalUpdated, map[string]string{"name": next.Name, "external_id": next.ExternalID}, p)
}

// save stores p with its entry, and copies the result into out.
func (s *Service) save(ctx context.Context, p *mayfly.Principal, action mayfly.Action, details map[string]string, out *mayfly.Principal) error {
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.SavePrincipal(tx, p); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: action, Principal: p.ID, Details: details})
		return err
	})
	if err != nil {
		return err
	}
	*out = *p
	return nil
}

// SavePrincipal stores p in tx if it is still at the version it was read
// at, and caches it once tx commits. For workflows that change principals
// with other things in one transaction; the caller records the entry.
func (s *Service) SavePrincipal(tx mayfly.Tx, p *mayfly.Principal) error {
	if err := s.cfg.Store.UpdatePrincipal(tx, p); err != nil {
		if mayfly.ErrorCode(err) == mayfly.Conflict {
			return mayfly.Errorf(mayfly.Conflict, "principal %q changed since it was read, or its new name is taken", p.Name)
		}
		return err
	}
	saved := *p
	tx.AfterCommit(func() {
		s.mu.Lock()
		s.principals[saved.ID] = &saved
		delete(s.stagedPrincipals, saved.ID)
		s.mu.Unlock()
	})
	return nil
}

// SetStatus suspends or reactivates a principal. A suspension stops
// everything offboarding would reach: the principal, the services it owns
// and the clients of either, each held by a revocation that verifiers
// apply (see mayfly.RevokeSuspend). Reactivation lifts exactly the holds
// this suspension placed and no other suspension still needs, with a
// not-before mark, so that no token minted before it, with copied key
// material or otherwise, comes back. Offboarding is a workflow of its own
// (package offboard): a principal is never offboarded, or brought back
// from it, here.
func (s *Service) SetStatus(ctx context.Context, ref string, status mayfly.PrincipalStatus, reason string) (*mayfly.Principal, error) {
	if status != mayfly.Active && status != mayfly.Suspended {
		return nil, mayfly.InvalidField("status", "status %q: only active and suspended are set directly; offboarding has its own command", status)
	}
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	// What a change reaches is read, then written: another status change
	// in between (a service's own, its owner's) could leave a hold that
	// nothing needs, or lift one that something does.
	unlock, err := s.cfg.Locks.Lock(ctx, StatusLock)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := s.Fresh(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch {
	case p.Status == mayfly.Offboarded:
		return nil, mayfly.Errorf(mayfly.Conflict, "principal %q is offboarded; that is final", p.Name)
	case p.Status == status:
		return p, nil
	}
	if status == mayfly.Suspended {
		if err := s.Guard(ctx, p, false); err != nil {
			return nil, err
		}
	}
	r, err := s.reach(ctx, p)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now().UTC()
	next := *p
	next.Status, next.UpdatedAt = status, now
	next.SuspendedBy, next.SuspendedAt = "", time.Time{}
	action := mayfly.ActionPrincipalReactivated
	if status == mayfly.Suspended {
		action = mayfly.ActionPrincipalSuspended
		next.SuspendedBy, next.SuspendedAt = actorOf(ctx), now
	}
	s.cfg.Log.Info(string(action), "principal", p.ID, "reason", reason)
	var lifted []string // principals the reactivation brings back
	if status == mayfly.Suspended {
		// Stop issuing here before the marks' time is taken, so that every
		// token this process mints after them is refused; if the change
		// does not commit, the copy goes and the store's word stands.
		s.mu.Lock()
		s.stagedPrincipals[p.ID] = &next
		s.mu.Unlock()
	}
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.SavePrincipal(tx, &next); err != nil {
			return err
		}
		// The marks with the status, timed as late as they can be: a token
		// this process minted before them was minted while the principal
		// was active; another process hears of all of it at once.
		at := s.cfg.Clock.Now().UTC()
		var revs []*mayfly.Revocation
		if status == mayfly.Suspended {
			revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: p.ID, At: at, Reason: "suspended: " + reason, Cause: mayfly.CauseSuspended})
			for _, subject := range r.held() {
				cause := mayfly.CauseOwnerSuspended
				if subject == p.ID {
					cause = mayfly.CauseSuspended
				}
				revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeSuspend, Subject: subject, At: at, Reason: "suspended: " + reason, Cause: cause})
			}
		} else {
			var subjects []string
			subjects, lifted = r.lifted()
			for _, subject := range subjects {
				revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeResume, Subject: subject, At: at, Reason: "reactivated: " + reason})
			}
		}
		if err := s.cfg.Revoker.Revoke(tx, revs...); err != nil {
			return err
		}
		// The entry names the revocations by their numbers, which the
		// store gave them in this transaction.
		details := map[string]string{"reason": reason, "holds": fmt.Sprint(len(revs))}
		if status == mayfly.Suspended {
			details["holds"] = fmt.Sprint(len(revs) - 1) // less the mark
		}
		if n := len(revs); n > 0 {
			details["first_seq"], details["last_seq"] = fmt.Sprint(revs[0].Seq), fmt.Sprint(revs[n-1].Seq)
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: action, Principal: p.ID, Details: details})
		return err
	})
	if err != nil {
		s.mu.Lock()
		if s.stagedPrincipals[p.ID] == &next {
			delete(s.stagedPrincipals, p.ID)
		}
		s.mu.Unlock()
		return nil, err
	}
	s.mu.RLock()
	tell := s.reactivated
	s.mu.RUnlock()
	if status == mayfly.Active && tell != nil {
		// The principal is active whatever happens here; a failure to tell
		// is for the operator, not a reason to report the change as failed.
		for _, id := range lifted {
			if err := tell(context.WithoutCancel(ctx), id); err != nil { // not cut short by a caller hanging up
				s.cfg.Log.Error("telling others of a reactivation failed", "principal", id, "err", err)
			}
		}
	}
	return &next, nil
}

// StatusLock is the lock every change of what a suspension holds, or of
// who can still administer, takes: suspension, reactivation, making a
// service or client, offboarding's first step and its handing over of what
// a person owned, and a non-administrator's revocation of a credential.
const StatusLock = "principal-status"

// reach is what a principal's suspension stops, as the store has it: the
// principal, the services it owns (unless offboarded), and the clients of
// any of them (unless revoked).
type reach struct {
	principal *mayfly.Principal
	owner     *mayfly.Principal // a service's owner; nil for a person
	services  []*mayfly.Principal
	clients   []*mayfly.Client
}

func (s *Service) reach(ctx context.Context, p *mayfly.Principal) (*reach, error) {
	r := &reach{principal: p}
	if p.OwnerID != "" {
		o, err := s.Fresh(ctx, p.OwnerID)
		if err != nil {
			return nil, err
		}
		r.owner = o
	}
	owners := map[string]bool{p.ID: true}
	if p.Kind == mayfly.Human {
		all, err := s.cfg.Store.Principals(ctx)
		if err != nil {
			return nil, err
		}
		for _, q := range all {
			if q.OwnerID == p.ID && q.Status != mayfly.Offboarded {
				r.services = append(r.services, q)
				owners[q.ID] = true
			}
		}
	}
	clients, err := s.cfg.Store.Clients(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range clients {
		if owners[c.OwnerID] && !c.Revoked() && !s.cfg.Revoker.Revoked(mayfly.RevokeClient, c.ID) {
			r.clients = append(r.clients, c)
		}
	}
	return r, nil
}

// held lists the subjects a suspension holds.
func (r *reach) held() []string {
	ids := []string{r.principal.ID}
	for _, q := range r.services {
		ids = append(ids, q.ID)
	}
	for _, c := range r.clients {
		ids = append(ids, c.ID)
	}
	return ids
}

// lifted lists the subjects a reactivation lifts, those no other
// suspension holds, and which of them are principals. Nothing is lifted
// while a service's owner is not active; a person's suspended service, and
// its clients, stay held.
func (r *reach) lifted() (subjects, principals []string) {
	if r.owner != nil && r.owner.Status != mayfly.Active {
		return nil, nil
	}
	principals = []string{r.principal.ID}
	still := map[string]bool{}
	for _, q := range r.services {
		if q.Status != mayfly.Active {
			still[q.ID] = true
			continue
		}
		principals = append(principals, q.ID)
	}
	subjects = slices.Clone(principals)
	for _, c := range r.clients {
		if !still[c.OwnerID] {
			subjects = append(subjects, c.ID)
		}
	}
	return subjects, principals
}

// Forget drops cached principals and clients, after another replica
// changed them. Staged copies stay: their changes are this process's own,
// on their way to the store.
func (s *Service) Forget(context.Context) error {
	s.mu.Lock()
	clear(s.principals)
	clear(s.clients)
	s.mu.Unlock()
	return nil
}

// ClientSpec is what a caller asks for when creating a client.
type ClientSpec struct {
	Name      string
	Owner     string // principal ID or name
	Scopes    []string
	Audiences []string
	TokenTTL  time.Duration
	Ring      string
	// JWKS, if set, holds public keys for private_key_jwt; the client then
	// gets no secret, unless AuthMethod is client_secret_basic or
	// client_secret_post: then the keys sign only its subject tokens.
	JWKS []byte
	// AuthMethod is how the client authenticates (RFC 7591's
	// token_endpoint_auth_method): empty for private_key_jwt with JWKS and
	// a secret without.
	AuthMethod string
	// Exchange, Refresh, RefreshIdle, RefreshAbsolute, DPoP and Public as
	// in mayfly.Client. A public client gets no secret and may have no
	// JWKS.
	Exchange                     []string
	Refresh                      bool
	RefreshIdle, RefreshAbsolute time.Duration
	DPoP                         mayfly.DPoPMode
	Public                       bool
}

// subjectNamespace is a namespace of token subjects: "customer" names
// the subjects "customer:...".
var subjectNamespace = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

var (
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 section 3.3
	audience   = regexp.MustCompile(`^[\x21-\x7E]{1,512}$`)
)

// CreateClient creates a client and returns it with its secret, which is
// never available again.
func (s *Service) CreateClient(ctx context.Context, spec ClientSpec) (*mayfly.Client, string, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		return nil, "", mayfly.InvalidField("name", "client name must be 1-128 characters")
	}
	if err := mayfly.CheckText("name", name, mayfly.MaxName); err != nil {
		return nil, "", err
	}
	if spec.Owner == "" {
		return nil, "", mayfly.InvalidField("owner", "a client needs an owner")
	}
	// As for a service (see Create): a client made as its owner, or its
	// owner's owner, is suspended is held or refused.
	unlock, err := s.cfg.Locks.Lock(ctx, StatusLock)
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	owner, err := s.Fresh(ctx, spec.Owner)
	if err != nil {
		return nil, "", err
	}
	if owner.Status != mayfly.Active {
		return nil, "", mayfly.InvalidField("owner", "owner %q is %s", owner.Name, owner.Status)
	}
	if owner.OwnerID != "" {
		if o, err := s.Fresh(ctx, owner.OwnerID); err != nil {
			return nil, "", err
		} else if o.Status != mayfly.Active {
			return nil, "", mayfly.InvalidField("owner", "owner %q belongs to %q, who is %s", owner.Name, o.Name, o.Status)
		}
	}
	for _, sc := range spec.Scopes {
		if !scopeToken.MatchString(sc) {
			return nil, "", mayfly.InvalidField("scope", "scope %q is not a valid scope token", sc)
		}
	}
	for _, a := range spec.Audiences {
		if !audience.MatchString(a) {
			return nil, "", mayfly.InvalidField("audience", "audience %q must be 1-512 printable characters without spaces", a)
		}
	}
	ttl := spec.TokenTTL
	if ttl == 0 {
		ttl = mayfly.DefaultTokenTTL
	}
	if ttl < time.Minute || ttl > mayfly.MaxTokenTTL {
		return nil, "", mayfly.InvalidField("token_ttl", "token lifetime %s must be between 1m and the ceiling of %s", ttl, mayfly.MaxTokenTTL)
	}
	ring := spec.Ring
	if ring == "" {
		ring = keys.DefaultRing
	}
	if _, err := s.cfg.Keys.Ring(ring); err != nil {
		return nil, "", err
	}
	if err := checkCustomerSpec(&spec); err != nil {
		return nil, "", err
	}
	c := &mayfly.Client{
		Name: name, OwnerID: owner.ID, Scopes: dedupe(spec.Scopes), Audiences: dedupe(spec.Audiences),
		TokenTTL: ttl, Ring: ring, CreatedAt: s.cfg.Clock.Now().UTC(),
		Exchange: dedupe(spec.Exchange), Refresh: spec.Refresh, RefreshIdle: spec.RefreshIdle, RefreshAbsolute: spec.RefreshAbsolute,
		DPoP: spec.DPoP, Public: spec.Public,
	}
	if c.ID, err = s.newID("mfc_"); err != nil {
		return nil, "", err
	}
	if len(spec.JWKS) > 0 { // a public client's are refused above
		if c.JWKS, err = publicJWKS(spec.JWKS); err != nil {
			return nil, "", err
		}
	}
	var secret string
	// A public client has no credential; one with keys has a secret only
	// if it asks to authenticate with one.
	if !spec.Public && (len(spec.JWKS) == 0 || secretAuth(spec.AuthMethod)) {
		if secret, err = s.newSecret("mfs_"); err != nil {
			return nil, "", err
		}
		c.SecretHash = HashSecret(secret)
		c.SecretRotatedAt = c.CreatedAt
	}
	details := map[string]string{"name": c.Name, "scopes": strings.Join(c.Scopes, " "), "audiences": strings.Join(c.Audiences, " "),
		"token_ttl": c.TokenTTL.String(), "auth": strings.Join(c.AuthMethods(), " ")}
	if len(c.JWKS) > 0 {
		// What its keys are, whether they authenticate it or sign its
		// subject tokens only.
		details["jwks"] = strings.Join(keyIDs(c.JWKS), " ")
	}
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.CreateClient(tx, c); err != nil {
			return err
		}
		if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionClientCreated, Client: c.ID, Principal: owner.ID, Ring: ring, Details: details}); err != nil {
			return err
		}
		if secret == "" {
			return nil
		}
		return s.shown(ctx, tx, c.ID)
	})
	if err != nil {
		return nil, "", err
	}
	s.cfg.Log.Info("client created", "client_id", c.ID, "owner", owner.ID, "ring", ring)
	return c, secret, nil
}

// secretAuth reports whether m is one of the secret's two methods, which a
// client with a secret may use alike.
func secretAuth(m string) bool { return m == "client_secret_basic" || m == "client_secret_post" }

// checkCustomerSpec checks what a client may do with customers' tokens.
func checkCustomerSpec(spec *ClientSpec) error {
	for _, ns := range spec.Exchange {
		if !subjectNamespace.MatchString(ns) {
			return mayfly.InvalidField("exchange", "subject namespace %q must be 1-32 lowercase letters, digits, _ or -, beginning with a letter", ns)
		}
	}
	switch {
	case spec.DPoP != mayfly.DPoPOptional && spec.DPoP != mayfly.DPoPRequired:
		return mayfly.InvalidField("dpop", "dpop is %q or empty, not %q", mayfly.DPoPRequired, spec.DPoP)
	case spec.RefreshIdle < 0 || spec.RefreshAbsolute < 0:
		return mayfly.InvalidField("refresh_idle", "refresh lifetimes cannot be negative")
	case !spec.Refresh && (spec.RefreshIdle != 0 || spec.RefreshAbsolute != 0):
		return mayfly.InvalidField("refresh_idle", "refresh lifetimes are for a client given refresh tokens")
	case spec.RefreshAbsolute > mayfly.MaxRefreshAbsolute:
		return mayfly.InvalidField("refresh_absolute", "a refresh family lives at most %s, not %s", mayfly.MaxRefreshAbsolute, spec.RefreshAbsolute)
	case spec.RefreshIdle != 0 && spec.RefreshIdle < time.Minute:
		return mayfly.InvalidField("refresh_idle", "a refresh family's idle lifetime is at least 1m, not %s", spec.RefreshIdle)
	}
	idle, absolute := cmp.Or(spec.RefreshIdle, mayfly.DefaultRefreshIdle), cmp.Or(spec.RefreshAbsolute, mayfly.DefaultRefreshAbsolute)
	if spec.Refresh && idle > absolute {
		return mayfly.InvalidField("refresh_idle", "a refresh family's idle lifetime %s is longer than its absolute lifetime %s", idle, absolute)
	}
	switch m := spec.AuthMethod; {
	case m != "" && m != "private_key_jwt" && !secretAuth(m) && m != "none":
		return mayfly.InvalidField("token_endpoint_auth_method", "token_endpoint_auth_method is client_secret_basic, client_secret_post, private_key_jwt or none, not %q", m)
	case m == "private_key_jwt" && len(spec.JWKS) == 0:
		return mayfly.InvalidField("token_endpoint_auth_method", "token_endpoint_auth_method private_key_jwt needs the client's public keys (jwks)")
	case m == "none" && !spec.Public:
		return mayfly.InvalidField("token_endpoint_auth_method", "token_endpoint_auth_method none is for public clients only")
	case m != "" && m != "none" && spec.Public:
		return mayfly.InvalidField("token_endpoint_auth_method", "a public client has no credential: its token_endpoint_auth_method is none, not %s", m)
	case len(spec.Exchange) > 0 && len(spec.JWKS) == 0 && !spec.Public:
		// Every subject token it presented would be refused.
		return mayfly.InvalidField("jwks", "a client that exchanges subject tokens needs the public keys that sign them (jwks)")
	case secretAuth(m) && len(spec.JWKS) > 0 && len(spec.Exchange) == 0:
		// Its keys would sign nothing, yet stand as its credential.
		return mayfly.InvalidField("jwks", "a client that authenticates with a secret uses a JWK Set only to sign subject tokens: give it exchange, or no jwks")
	}
	if spec.Public {
		switch {
		case len(spec.JWKS) > 0:
			return mayfly.InvalidField("public", "a public client has no credential: no JWKS")
		case spec.DPoP != mayfly.DPoPRequired:
			return mayfly.InvalidField("public", "a public client must prove possession of its tokens (dpop %q)", mayfly.DPoPRequired)
		case len(spec.Exchange) > 0:
			return mayfly.InvalidField("public", "a public client cannot exchange subject tokens: it has no credential to do it with")
		}
	}
	return nil
}

// Created records, in tx, that the caller's person created an asset: they
// chose and may administer it, so they are among its custodians.
func (s *Service) Created(ctx context.Context, tx mayfly.Tx, asset mayfly.Asset, id string) error {
	a := Caller(ctx)
	if a == nil || a.OwnerID == "" {
		return nil
	}
	return s.AddCustody(ctx, tx, &mayfly.Custody{PrincipalID: a.OwnerID, Asset: asset, AssetID: id, Kind: mayfly.CustodyCreated, Reason: "created through " + a.ID})
}

// shown records, in tx, that the caller's person saw the client's secret.
func (s *Service) shown(ctx context.Context, tx mayfly.Tx, clientID string) error {
	a := Caller(ctx)
	if a == nil || a.OwnerID == "" {
		return nil
	}
	return s.AddCustody(ctx, tx, &mayfly.Custody{PrincipalID: a.OwnerID, Asset: mayfly.AssetClientSecret, AssetID: clientID,
		Kind: mayfly.CustodyShown, Reason: "the secret was returned to " + a.ID})
}

// RotateClientSecret gives a client a new secret and sets a not-before mark
// on the client, so tokens got with the old secret stop being accepted.
// With show, the new secret is returned (once) and its custody recorded
// against the caller; without, nobody learns it, and the owner must rotate
// again to get one. Only an admin credential is shown a secret: a
// responder contains, and a secret would let it act as the client.
func (s *Service) RotateClientSecret(ctx context.Context, id, reason string, show bool) (*mayfly.Client, string, error) {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, "", err
	}
	if c := Caller(ctx); c != nil && c.Role != mayfly.RoleAdmin {
		show = false
	}
	c, err := s.fresh(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if c.Revoked() || s.cfg.Revoker.Revoked(mayfly.RevokeClient, id) {
		return nil, "", mayfly.Errorf(mayfly.Conflict, "client %q is revoked", id)
	}
	if len(c.SecretHash) == 0 {
		return nil, "", mayfly.Errorf(mayfly.Conflict, "client %q authenticates with private_key_jwt and has no secret", id)
	}
	secret, err := s.newSecret("mfs_")
	if err != nil {
		return nil, "", err
	}
	next := *c
	next.SecretHash, next.SecretRotatedAt = HashSecret(secret), s.cfg.Clock.Now().UTC()
	details := map[string]string{"reason": reason, "owner": c.OwnerID}
	if !show {
		details["action_needed"] = "the owner must rotate the secret again to obtain a usable one"
	}
	s.Stage(&next)
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.SaveClients(tx, &next); err != nil {
			return err
		}
		// The mark is timed once the old secret stopped working here, as
		// late as it can be: every token this process mints with the old
		// secret is before it.
		mark := &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: id, At: s.cfg.Clock.Now().UTC(), Reason: "secret rotated: " + reason, Cause: mayfly.CauseSecretRotated}
		if err := s.cfg.Revoker.Revoke(tx, mark); err != nil {
			return err
		}
		if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionClientSecretRotated, Client: id, Principal: c.OwnerID, Details: details}); err != nil {
			return err
		}
		if !show {
			return nil
		}
		return s.shown(ctx, tx, id)
	})
	if err != nil {
		s.Unstage(&next)
		return nil, "", err
	}
	s.cfg.Log.Info("client secret rotated", "client_id", id, "owner", c.OwnerID, "shown", show)
	if !show {
		return &next, "", nil
	}
	return &next, secret, nil
}

// Stage makes c, a client about to be stored with a new secret, the one
// this process authenticates against, so that it stops accepting the old
// secret at once, before the not-before mark that goes with the new one
// is timed. SaveClients unstages it once the change commits; the caller
// unstages it if the change does not.
func (s *Service) Stage(c *mayfly.Client) {
	s.mu.Lock()
	s.stagedClients[c.ID] = c
	s.mu.Unlock()
}

// Unstage drops c's staged copy, if it is still the one staged, and any
// cached copy, so that the next read asks the store.
func (s *Service) Unstage(c *mayfly.Client) {
	s.mu.Lock()
	if s.stagedClients[c.ID] == c {
		delete(s.stagedClients, c.ID)
	}
	delete(s.clients, c.ID)
	s.mu.Unlock()
}

// SaveClients stores each client in tx if it is still at the version it
// was read at, and drops the cached copies once tx commits. For workflows
// that change clients with other things in one transaction; the caller
// records the entries. A client changed since it was read fails it with
// ErrConflict.
func (s *Service) SaveClients(tx mayfly.Tx, cs ...*mayfly.Client) error {
	if err := s.cfg.Store.UpdateClients(tx, cs); err != nil {
		return err
	}
	tx.AfterCommit(func() {
		s.mu.Lock()
		for _, c := range cs {
			delete(s.stagedClients, c.ID)
			delete(s.clients, c.ID)
		}
		s.mu.Unlock()
	})
	return nil
}

// fresh reads a client from the store, bypassing the cache.
func (s *Service) fresh(ctx context.Context, id string) (*mayfly.Client, error) {
	c, err := s.cfg.Store.Client(ctx, id)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil, mayfly.Errorf(mayfly.NotFound, "client %q not found", id)
	}
	return c, err
}

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// keyIDs lists the key IDs of jwks, a checked JWK Set (publicJWKS); a key
// without one is "-".
func keyIDs(jwks []byte) []string {
	var set struct {
		Keys []struct {
			KeyID string `json:"kid"`
		} `json:"keys"`
	}
	json.Unmarshal(jwks, &set)
	ids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		ids = append(ids, cmp.Or(k.KeyID, "-"))
	}
	return ids
}

// publicJWKS checks that raw is a JWK set of public signing keys and
// returns it re-encoded. Private or symmetric keys are refused: a client
// must never hand its private key to the server.
func publicJWKS(raw []byte) ([]byte, error) {
	// go-jose reads an RSA key without "d" as public and drops its primes,
	// so private members are looked for in the JSON itself.
	var members struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, mayfly.InvalidField("jwks", "jwks is not a JSON Web Key Set: %v", err)
	}
	for _, k := range members.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				return nil, mayfly.InvalidField("jwks", "jwks holds private key material (%q); send public keys only, and treat that private key as exposed", private)
			}
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, mayfly.InvalidField("jwks", "jwks is not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > 10 {
		return nil, mayfly.InvalidField("jwks", "jwks must hold 1-10 keys")
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, mayfly.InvalidField("jwks", "jwks key %q is not a valid public key; send public keys only", k.KeyID)
		}
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, mayfly.InvalidField("jwks", "jwks: %v", err)
	}
	return out, nil
}

// HashSecret is the stored form of a client secret or admin token.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretMatches compares a presented secret with a stored hash in constant time.
func SecretMatches(hash []byte, secret string) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, HashSecret(secret)) == 1
}

// Client returns a client by ID, from cache when possible.
func (s *Service) Client(ctx context.Context, id string) (*mayfly.Client, error) {
	s.mu.RLock()
	staged, isStaged := s.stagedClients[id]
	cc, ok := s.clients[id]
	s.mu.RUnlock()
	if isStaged {
		return staged, nil
	}
	// A not-before mark set since the copy was cached means the secret
	// changed, here or on another replica: the copy is stale. The marks
	// travel with revocations, which every replica applies at once.
	mark := s.cfg.Revoker.NotBefore(id)
	if ok && cc.mark.Equal(mark) {
		return cc.c, nil
	}
	c, err := s.fresh(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.clients[id] = cachedClient{c, mark}
	s.mu.Unlock()
	return c, nil
}

// cachedClient is a client as read, with the not-before mark it had then.
type cachedClient struct {
	c    *mayfly.Client
	mark time.Time
}

// Clients lists every client.
func (s *Service) Clients(ctx context.Context) ([]*mayfly.Client, error) {
	return s.cfg.Store.Clients(ctx)
}

// Owned returns the services owner owns and the clients they and owner
// own.
func (s *Service) Owned(ctx context.Context, owner string) ([]*mayfly.Principal, []*mayfly.Client, error) {
	return s.cfg.Store.Owned(ctx, owner)
}

// RevokeClient withdraws a client: it can get no more tokens and every token
// it holds stops being accepted.
func (s *Service) RevokeClient(ctx context.Context, id, reason string) (*mayfly.Revocation, error) {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		// Read from the store: the revocation is stored with the version
		// it was read at, and another process may have changed it.
		c, err := s.fresh(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.Revoked() || s.cfg.Revoker.Revoked(mayfly.RevokeClient, id) {
			return nil, mayfly.Errorf(mayfly.Conflict, "client %q is already revoked", id)
		}
		rev := &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: id, Reason: reason}
		err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
			if err := s.RevokeClients(tx, []*mayfly.Revocation{rev}, []*mayfly.Client{c}); err != nil {
				return err
			}
			_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionClientRevoked, Client: id, Principal: c.OwnerID,
				Details: map[string]string{"reason": reason, "seq": fmt.Sprint(rev.Seq)}})
			return err
		})
		if mayfly.ErrorCode(err) == mayfly.Conflict && try < 2 {
			continue // changed since it was read: read it again
		}
		if err != nil {
			return nil, err
		}
		s.cfg.Log.Info("client revoked", "client_id", id, "seq", rev.Seq)
		return rev, nil
	}
}

// RevokeClients stores client revocations in tx and marks each client,
// clients[i] as read for revs[i], revoked at its revocation's time. A
// client changed since it was read fails it with ErrConflict.
func (s *Service) RevokeClients(tx mayfly.Tx, revs []*mayfly.Revocation, clients []*mayfly.Client) error {
	if err := s.cfg.Revoker.Revoke(tx, revs...); err != nil {
		return err
	}
	marked := make([]*mayfly.Client, len(clients))
	for i, c := range clients {
		next := *c
		next.RevokedAt = revs[i].At
		marked[i] = &next
	}
	return s.SaveClients(tx, marked...)
}

// Usable reports why a client cannot obtain or use tokens, or nil if it can.
func (s *Service) Usable(ctx context.Context, c *mayfly.Client) error {
	if c.Revoked() || s.cfg.Revoker.Revoked(mayfly.RevokeClient, c.ID) {
		return mayfly.Errorf(mayfly.Unauthenticated, "client is revoked")
	}
	if s.cfg.Revoker.Revoked(mayfly.RevokePrincipal, c.OwnerID) {
		return mayfly.Errorf(mayfly.Unauthenticated, "client owner is revoked")
	}
	if s.cfg.Revoker.Suspended(c.ID) || s.cfg.Revoker.Suspended(c.OwnerID) {
		return mayfly.Errorf(mayfly.Unauthenticated, "client is suspended")
	}
	// The owner, and a service's own owner, by status: this process
	// knows a suspension before the holds it writes are stored.
	owner, err := s.Principal(ctx, c.OwnerID)
	if err != nil {
		return err
	}
	if owner.Status != mayfly.Active {
		return mayfly.Errorf(mayfly.Unauthenticated, "client owner is %s", owner.Status)
	}
	if owner.OwnerID != "" {
		o, err := s.Principal(ctx, owner.OwnerID)
		if err != nil {
			return err
		}
		if o.Status != mayfly.Active {
			return mayfly.Errorf(mayfly.Unauthenticated, "client owner's owner is %s", o.Status)
		}
	}
	return nil
}

// CreateAdminCredential makes a bearer credential for the admin API and
// returns its secret, which is never available again.
func (s *Service) CreateAdminCredential(ctx context.Context, name string) (*mayfly.AdminCredential, string, error) {
	return s.NewCredential(ctx, CredentialSpec{Name: name, Role: mayfly.RoleAdmin})
}

// CredentialSpec is what a caller asks for when creating an admin or SCIM
// credential.
type CredentialSpec struct {
	Name  string
	Role  mayfly.Role
	Owner string // the person it belongs to: principal ID or name, optional
}

// NewCredential makes a bearer credential and returns its secret, which is
// never available again.
func (s *Service) NewCredential(ctx context.Context, spec CredentialSpec) (*mayfly.AdminCredential, string, error) {
	a, secret, err := s.PrepareCredential(ctx, spec)
	if err != nil {
		return nil, "", err
	}
	shownTo := ""
	if c := Caller(ctx); c != nil {
		shownTo = c.OwnerID
	}
	if err := s.SaveCredential(ctx, a, shownTo, actorOf(ctx)); err != nil {
		return nil, "", err
	}
	return a, secret, nil
}

// PrepareCredential checks spec and makes the credential it asks for, with
// its ID, secret and the secret's hash, without storing it: for a
// credential that exists only once someone else approves it.
func (s *Service) PrepareCredential(ctx context.Context, spec CredentialSpec) (*mayfly.AdminCredential, string, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		return nil, "", mayfly.InvalidField("name", "credential name must be 1-128 characters")
	}
	if err := mayfly.CheckText("name", name, mayfly.MaxName); err != nil {
		return nil, "", err
	}
	if spec.Role == "" {
		spec.Role = mayfly.RoleAdmin
	}
	if !spec.Role.Valid() {
		return nil, "", mayfly.InvalidField("role", "role %q is not one of admin, ring-admin, responder, auditor or scim", spec.Role)
	}
	var owner string
	if spec.Owner != "" {
		p, err := s.Fresh(ctx, spec.Owner)
		if err != nil {
			return nil, "", err
		}
		if p.Kind != mayfly.Human || p.Status != mayfly.Active {
			return nil, "", mayfly.InvalidField("owner", "a credential's owner must be an active person; %q is a %s %s", p.Name, p.Status, p.Kind)
		}
		owner = p.ID
	}
	id, err := s.newID("adm_")
	if err != nil {
		return nil, "", err
	}
	secret, err := s.newSecret("mfa_")
	if err != nil {
		return nil, "", err
	}
	return &mayfly.AdminCredential{ID: id, Name: name, Role: spec.Role, OwnerID: owner, Hash: HashSecret(secret), CreatedAt: s.cfg.Clock.Now().UTC()}, secret, nil
}

// SaveCredential stores a prepared credential with its entry, and records
// shownTo, if not empty, as shown its token by returnedTo: offboarding
// them revokes it too. Saving one that exists changes nothing.
func (s *Service) SaveCredential(ctx context.Context, a *mayfly.AdminCredential, shownTo, returnedTo string) error {
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.CreateAdminCredential(tx, a); err != nil {
			return err
		}
		if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionCredentialCreated, Principal: a.OwnerID,
			Details: map[string]string{"id": a.ID, "name": a.Name, "role": string(a.Role)}}); err != nil {
			return err
		}
		if shownTo == "" {
			return nil
		}
		return s.AddCustody(ctx, tx, &mayfly.Custody{PrincipalID: shownTo, Asset: mayfly.AssetCredential, AssetID: a.ID,
			Kind: mayfly.CustodyShown, Reason: "the token was returned to " + returnedTo})
	})
	if err != nil {
		return err
	}
	s.cfg.Log.Info("admin credential created", "id", a.ID, "name", a.Name, "role", a.Role, "owner", a.OwnerID)
	return nil
}

// Holders lists the people who can present a credential: the person it
// belongs to, and everyone recorded as shown its token, such as whoever
// made it for them. Custody records are never removed, so the list only
// grows.
func (s *Service) Holders(ctx context.Context, credentialID string) ([]string, error) {
	creds, err := s.cfg.Store.AdminCredentials(ctx)
	if err != nil {
		return nil, err
	}
	var holders []string
	for _, a := range creds {
		if a.ID == credentialID && a.OwnerID != "" {
			holders = append(holders, a.OwnerID)
		}
	}
	shown, err := s.cfg.Store.Custody(ctx, mayfly.CustodyFilter{Asset: mayfly.AssetCredential, AssetID: credentialID})
	if err != nil {
		return nil, err
	}
	for _, c := range shown {
		if !slices.Contains(holders, c.PrincipalID) {
			holders = append(holders, c.PrincipalID)
		}
	}
	return holders, nil
}

// AdminPeople lists the people who each hold a working admin credential of
// role admin that no one else was shown: not revoked, theirs while they
// are active, and not one that whoever made it for them could present as
// well. A person handed a credential becomes one of these by making one
// for themselves with it and revoking the one they were handed.
func (s *Service) AdminPeople(ctx context.Context) ([]string, error) {
	creds, err := s.cfg.Store.AdminCredentials(ctx)
	if err != nil {
		return nil, err
	}
	var people []string
	for _, a := range creds {
		if a.Role != mayfly.RoleAdmin || !a.RevokedAt.IsZero() || a.OwnerID == "" || slices.Contains(people, a.OwnerID) {
			continue
		}
		p, err := s.Fresh(ctx, a.OwnerID)
		if err != nil {
			return nil, err
		}
		if p.Status != mayfly.Active {
			continue
		}
		holders, err := s.Holders(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		if len(holders) == 1 {
			people = append(people, p.ID)
		}
	}
	return people, nil
}

// AdminCredentials lists every admin and SCIM credential (never their secrets).
func (s *Service) AdminCredentials(ctx context.Context) ([]*mayfly.AdminCredential, error) {
	return s.cfg.Store.AdminCredentials(ctx)
}

// Indispensable says why losing p would take away the means to administer
// the service, or returns "" if it would not: p has had custody of the
// root key, or no working admin credential would be left once p is
// suspended or, with offboard, offboarded (which also revokes every
// credential whose token p was shown). Custody of the root key is counted
// whenever it was had: a rotation since may have been made with it.
func (s *Service) Indispensable(ctx context.Context, p *mayfly.Principal, offboard bool) (string, error) {
	root, err := s.cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: p.ID, Asset: mayfly.AssetRootKey})
	if err != nil {
		return "", err
	}
	if len(root) > 0 {
		return fmt.Sprintf("%s has had custody of the root key", p.Name), nil
	}
	seen := map[string]bool{}
	if offboard {
		shown, err := s.cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: p.ID, Asset: mayfly.AssetCredential})
		if err != nil {
			return "", err
		}
		for _, c := range shown {
			seen[c.AssetID] = true
		}
	}
	lost, left, err := s.admins(ctx, func(a *mayfly.AdminCredential) bool { return a.OwnerID == p.ID || seen[a.ID] })
	if err != nil || lost == 0 || left > 0 {
		return "", err
	}
	return fmt.Sprintf("no working admin credential would be left without %s", p.Name), nil
}

// admins counts the working admin credentials of role admin that a change
// takes away (lost says which) and those it leaves.
func (s *Service) admins(ctx context.Context, lost func(*mayfly.AdminCredential) bool) (taken, left int, err error) {
	creds, err := s.cfg.Store.AdminCredentials(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, a := range creds {
		if a.Role != mayfly.RoleAdmin || !a.RevokedAt.IsZero() {
			continue
		}
		if lost(a) {
			taken++
			continue
		}
		if a.OwnerID != "" {
			owner, err := s.Fresh(ctx, a.OwnerID)
			if err != nil {
				return 0, 0, err
			}
			if owner.Status != mayfly.Active {
				continue
			}
		}
		left++
	}
	return taken, left, nil
}

// OpGuard marks the error Guard refuses with: a caller that may ask an
// administrator instead (SCIM) recognises it.
const OpGuard = "identity.Guard"

// Guard refuses, to a caller other than an admin credential, to suspend
// or (with offboard) offboard p if that would take away the means to
// administer the service (see Indispensable). Suspension runs it under
// StatusLock, and so must anyone else, so that two such changes at once
// cannot each leave the other's credential as the last one.
func (s *Service) Guard(ctx context.Context, p *mayfly.Principal, offboard bool) error {
	if c := Caller(ctx); c == nil || c.Role == mayfly.RoleAdmin {
		return nil // the service's own workflows, or an administrator who means it
	}
	why, err := s.Indispensable(ctx, p, offboard)
	if err != nil || why == "" {
		return err
	}
	return &mayfly.Error{Op: OpGuard, Code: mayfly.PermissionDenied, Msg: why + "; only an administrator may take that away"}
}

// RevokeAdminCredential withdraws an admin or SCIM credential.
func (s *Service) RevokeAdminCredential(ctx context.Context, id, reason string) error {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return err
	}
	// Only an administrator may revoke the last working admin credential:
	// a responder contains, and must not lock the administrators out.
	if c := Caller(ctx); c != nil && c.Role != mayfly.RoleAdmin {
		unlock, err := s.cfg.Locks.Lock(ctx, StatusLock)
		if err != nil {
			return err
		}
		defer unlock()
		lost, left, err := s.admins(ctx, func(a *mayfly.AdminCredential) bool { return a.ID == id })
		if err != nil {
			return err
		}
		if lost > 0 && left == 0 {
			return mayfly.Errorf(mayfly.PermissionDenied, "credential %s is the last working admin credential; only an administrator may revoke it", id)
		}
	}
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.RevokeAdminCredential(tx, id, s.cfg.Clock.Now().UTC()); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionCredentialRevoked, Details: map[string]string{"id": id, "reason": reason}})
		return err
	})
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return mayfly.Errorf(mayfly.NotFound, "credential %q not found", id)
	}
	if err != nil {
		return err
	}
	s.cfg.Log.Info("admin credential revoked", "id", id, "reason", reason)
	return nil
}

// RevokeCredentials marks credentials revoked at at, in tx. For workflows
// that revoke them with other things; the caller records the entries.
func (s *Service) RevokeCredentials(tx mayfly.Tx, ids []string, at time.Time) error {
	for _, id := range ids {
		if err := s.cfg.Store.RevokeAdminCredential(tx, id, at); err != nil {
			return err
		}
	}
	return nil
}

// GrantCustody records custody that happened outside Mayfly, or a role that
// confers it (ring administration, break-glass access).
func (s *Service) GrantCustody(ctx context.Context, ref string, asset mayfly.Asset, assetID string, kind mayfly.CustodyKind, reason string) (*mayfly.Custody, error) {
	p, err := s.Fresh(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !kind.Valid() {
		return nil, mayfly.InvalidField("kind", "custody kind %q is not one of created, shown, admin, operator, break_glass, granted", kind)
	}
	switch asset {
	case mayfly.AssetRing:
		if _, err := s.cfg.Keys.Ring(assetID); err != nil {
			return nil, err
		}
	case mayfly.AssetRootKey:
		assetID = mayfly.RootKeyAsset
	case mayfly.AssetClientSecret:
		if _, err := s.Client(ctx, assetID); err != nil {
			return nil, err
		}
	default:
		return nil, mayfly.InvalidField("asset", "asset %q is not ring, root_key or client_secret", asset)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, mayfly.InvalidField("reason", "custody needs a reason")
	}
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	c := &mayfly.Custody{PrincipalID: p.ID, Asset: asset, AssetID: assetID, Kind: kind, Reason: reason}
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error { return s.AddCustody(ctx, tx, c) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AddCustody records custody in tx, with its entry. ctx says who acts.
func (s *Service) AddCustody(ctx context.Context, tx mayfly.Tx, c *mayfly.Custody) error {
	c.Actor, c.At = actorOf(ctx), s.cfg.Clock.Now().UTC()
	if err := s.cfg.Store.AddCustody(tx, c); err != nil {
		return err
	}
	_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionCustodyGranted, Principal: c.PrincipalID, Ring: ringOf(c),
		Client: clientOf(c), Details: map[string]string{"asset": string(c.Asset), "asset_id": c.AssetID, "kind": string(c.Kind), "reason": c.Reason}})
	return err
}

func ringOf(c *mayfly.Custody) string {
	if c.Asset == mayfly.AssetRing {
		return c.AssetID
	}
	return ""
}

func clientOf(c *mayfly.Custody) string {
	if c.Asset == mayfly.AssetClientSecret {
		return c.AssetID
	}
	return ""
}

// Custody lists custody records.
func (s *Service) Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error) {
	if f.PrincipalID != "" {
		p, err := s.Principal(ctx, f.PrincipalID)
		if err != nil {
			return nil, err
		}
		f.PrincipalID = p.ID
	}
	return s.cfg.Store.Custody(ctx, f)
}

type callerKey struct{}

// WithCaller returns ctx carrying the credential that makes the request.
func WithCaller(ctx context.Context, a *mayfly.AdminCredential) context.Context {
	return context.WithValue(ctx, callerKey{}, a)
}

// Caller returns the credential making the request, or nil.
func Caller(ctx context.Context) *mayfly.AdminCredential {
	a, _ := ctx.Value(callerKey{}).(*mayfly.AdminCredential)
	return a
}

// actorOf names who acts, for records: the caller's credential, or the
// service itself.
func actorOf(ctx context.Context) string {
	if a := Caller(ctx); a != nil {
		return a.ID
	}
	return "mayfly"
}

// AuthenticateAdmin returns the admin credential a bearer secret belongs to.
func (s *Service) AuthenticateAdmin(ctx context.Context, secret string) (*mayfly.AdminCredential, error) {
	if !strings.HasPrefix(secret, "mfa_") {
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "invalid admin credential")
	}
	return s.AuthenticateAdminHash(ctx, HashSecret(secret))
}

// AuthenticateAdminHash returns the admin credential whose secret hashes to
// hash, if it still works: a console session keeps the hash, never the
// secret, and checks it again on every request.
func (s *Service) AuthenticateAdminHash(ctx context.Context, hash []byte) (*mayfly.AdminCredential, error) {
	a, err := s.cfg.Store.AdminCredentialByHash(ctx, hash)
	if mayfly.ErrorCode(err) == mayfly.NotFound || (err == nil && !a.RevokedAt.IsZero()) {
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "invalid admin credential")
	}
	if err != nil {
		return nil, err
	}
	// A credential works only while the person it belongs to is active.
	if a.OwnerID != "" {
		owner, err := s.Principal(ctx, a.OwnerID)
		if err != nil {
			return nil, err
		}
		if owner.Status != mayfly.Active {
			return nil, mayfly.Errorf(mayfly.Unauthenticated, "invalid admin credential")
		}
	}
	return a, nil
}

// AdminLogin records in the audit log the first use, since start, of an
// admin credential from a source address: a bearer credential has no
// session, so this is its login. Use from a new address is what an
// investigator looks for.
func (s *Service) AdminLogin(ctx context.Context, a *mayfly.AdminCredential, source string) error {
	key := [2]string{a.ID, source}
	s.mu.RLock()
	seen := s.logins[key]
	s.mu.RUnlock()
	if seen {
		return nil
	}
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionAdminLogin, Actor: a.ID, Details: map[string]string{"name": a.Name, "source_ip": source}})
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.logins[key] = true
	s.mu.Unlock()
	return nil
}
