package ssf

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/mayflyhq/mayfly"
)

// Event types this transmitter sends. The first three are what receivers
// request; the SSF ones concern the stream itself and always go out.
const (
	SessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	CredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	AccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	AccountEnabled   = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	Verification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	StreamUpdated    = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
)

// Supported lists the event types a stream may request.
var Supported = []string{SessionRevoked, CredentialChange, AccountDisabled, AccountEnabled}

// Subject is an RFC 9493 subject identifier, as the SET's sub_id.
type Subject map[string]any

// issSub names a principal or client as access tokens do: by this issuer
// and its ID.
func (s *Service) issSub(id string) Subject {
	return Subject{"format": "iss_sub", "iss": s.cfg.Issuer, "sub": id}
}

// event is one SET's subject and event, before its envelope.
type event struct {
	typ     string
	subject Subject
	body    map[string]any
}

// Claims are a SET's claims (RFC 8417 section 2.2, SSF 1.0 section 4).
// There is no sub and no exp: SSF forbids the first, and a SET is a
// statement of fact that does not expire.
type Claims struct {
	Issuer   string                    `json:"iss"`
	JTI      string                    `json:"jti"`
	IssuedAt int64                     `json:"iat"`
	Audience string                    `json:"aud"`
	Txn      string                    `json:"txn,omitempty"`
	SubID    Subject                   `json:"sub_id"`
	Events   map[string]map[string]any `json:"events"`
}

// events maps a revocation to what receivers are told of it:
//
//   - a token (jti): session-revoked for that session;
//   - a principal: session-revoked and account-disabled;
//   - a client: session-revoked, and credential-change (revoke) of its secret;
//   - a not-before mark: session-revoked for the principal or client, plus
//     account-disabled if a suspension set it, or credential-change
//     (update) if a secret rotation did. The mark an offboarding sets adds
//     nothing to the principal revocation that comes with it;
//   - a suspension's hold on what the suspended principal owns:
//     session-revoked, plus account-disabled for a service. The hold on
//     the principal itself adds nothing to its not-before mark.
//   - a subject's not-before mark (a customer logged out): session-revoked
//     for the subject as tokens name it, iss_sub with this issuer and the
//     sub, such as "customer:42";
//   - a namespace's not-before mark (every customer logged out):
//     session-revoked for a complex subject whose group is the namespace
//     ({"format":"complex","group":{"format":"opaque","id":"customer"}}),
//     with event_timestamp the mark: every session of a subject
//     "customer:..." begun before it is revoked. One event, however many
//     subjects; RFC 9493 has no format for a set of subjects by prefix;
//   - a refresh token family (sid), revoked when a retired token came back:
//     session-revoked for that session, and its customer as the user.
//
// A reactivation is no revocation; Reactivated sends its account-enabled,
// for the principal and for each service the reactivation lifted.
// A signing key's revocation concerns no subject; verifiers learn of it
// from the revocation stream and the key set.
func (s *Service) events(ctx context.Context, r *mayfly.Revocation) ([]event, error) {
	base := map[string]any{"event_timestamp": r.At.Unix()}
	if r.Cause != "" || r.Kind != mayfly.RevokeToken {
		base["initiating_entity"] = "admin"
	}
	with := func(extra map[string]any) map[string]any {
		m := make(map[string]any, len(base)+len(extra))
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	switch r.Kind {
	case mayfly.RevokeToken:
		sub := Subject{"format": "complex", "session": Subject{"format": "opaque", "id": r.Subject}}
		recs, err := s.cfg.Store.Issuances(ctx, mayfly.IssuanceFilter{JTI: r.Subject, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(recs) == 1 {
			sub["user"] = s.issSub(recs[0].ClientID)
		}
		return []event{{SessionRevoked, sub, with(nil)}}, nil
	case mayfly.RevokePrincipal:
		sub := s.issSub(r.Subject)
		return []event{{SessionRevoked, sub, with(nil)}, {AccountDisabled, sub, with(nil)}}, nil
	case mayfly.RevokeClient:
		sub := s.issSub(r.Subject)
		evs := []event{{SessionRevoked, sub, with(nil)}}
		if c, err := s.cfg.Store.Client(ctx, r.Subject); err == nil && len(c.SecretHash) > 0 {
			evs = append(evs, event{CredentialChange, sub, with(secretChange("revoke"))})
		} else if err != nil && !errors.Is(err, mayfly.ErrNotFound) {
			return nil, err
		}
		return evs, nil
	case mayfly.RevokeSuspend:
		// The suspended principal's own hold comes with its not-before
		// mark, which says it; what it owns hears it here.
		if r.Cause != mayfly.CauseOwnerSuspended {
			return nil, nil
		}
		sub := s.issSub(r.Subject)
		evs := []event{{SessionRevoked, sub, with(nil)}}
		if _, err := s.cfg.Store.Principal(ctx, r.Subject); err == nil {
			evs = append(evs, event{AccountDisabled, sub, with(nil)})
		} else if !errors.Is(err, mayfly.ErrNotFound) {
			return nil, err
		}
		return evs, nil
	case mayfly.RevokeSubject:
		return []event{{SessionRevoked, s.issSub(r.Subject), with(nil)}}, nil
	case mayfly.RevokeSession:
		sub := Subject{"format": "complex", "session": Subject{"format": "opaque", "id": r.Subject}}
		if fam, err := s.cfg.Store.RefreshFamily(ctx, r.Subject); err == nil {
			sub["user"] = s.issSub(fam.Subject)
		} else if !errors.Is(err, mayfly.ErrNotFound) {
			return nil, err
		}
		return []event{{SessionRevoked, sub, with(nil)}}, nil
	case mayfly.RevokeNamespace:
		sub := Subject{"format": "complex", "group": Subject{"format": "opaque", "id": r.Subject}}
		return []event{{SessionRevoked, sub, with(nil)}}, nil
	case mayfly.RevokeNotBefore:
		sub := s.issSub(r.Subject)
		switch r.Cause {
		case mayfly.CauseOffboarded:
			if _, err := s.cfg.Store.Principal(ctx, r.Subject); err == nil {
				return nil, nil
			}
		case mayfly.CauseSuspended:
			return []event{{SessionRevoked, sub, with(nil)}, {AccountDisabled, sub, with(nil)}}, nil
		case mayfly.CauseSecretRotated:
			return []event{{CredentialChange, sub, with(secretChange("update"))}, {SessionRevoked, sub, with(nil)}}, nil
		}
		return []event{{SessionRevoked, sub, with(nil)}}, nil
	}
	return nil, nil
}

// secretChange describes a client secret as CAEP's credential-change does.
// A client secret is a shared secret presented as is: a password, in
// CAEP's vocabulary.
func secretChange(change string) map[string]any {
	return map[string]any{"credential_type": "password", "change_type": change, "friendly_name": "OAuth client secret"}
}

// delivered reports whether st takes events of type typ.
func delivered(st *mayfly.SSFStream, typ string) bool {
	if typ == Verification || typ == StreamUpdated {
		return true
	}
	if !slices.Contains(Supported, typ) {
		return false
	}
	return len(st.EventsRequested) == 0 || slices.Contains(st.EventsRequested, typ)
}

// EventsDelivered is what st is sent of the supported event types.
func EventsDelivered(st *mayfly.SSFStream) []string {
	var out []string
	for _, t := range Supported {
		if delivered(st, t) {
			out = append(out, t)
		}
	}
	return out
}

// excluded reports whether sub, or any subject a complex one holds, was
// removed from st.
func excluded(st *mayfly.SSFStream, sub Subject) bool {
	if len(st.Excluded) == 0 {
		return false
	}
	if slices.Contains(st.Excluded, canonical(sub)) {
		return true
	}
	for _, v := range sub {
		if m, ok := v.(Subject); ok && slices.Contains(st.Excluded, canonical(m)) {
			return true
		}
	}
	return false
}

// canonical is sub's JSON with sorted keys, so that two spellings of one
// subject compare equal.
func canonical(sub map[string]any) string {
	b, _ := json.Marshal(sub) // maps marshal with sorted keys
	return string(b)
}

// queued wraps events for st in SET claims. txn ties together the SETs one
// cause produced.
func (s *Service) queued(st *mayfly.SSFStream, txn string, evs []event) ([]mayfly.QueuedSET, error) {
	now := s.cfg.Clock.Now().UTC()
	var out []mayfly.QueuedSET
	for _, ev := range evs {
		if !delivered(st, ev.typ) || excluded(st, ev.subject) {
			continue
		}
		jti, err := s.jti()
		if err != nil {
			return nil, err
		}
		cl := Claims{Issuer: s.cfg.Issuer, JTI: jti, IssuedAt: now.Unix(), Audience: st.Audience, Txn: txn,
			SubID: ev.subject, Events: map[string]map[string]any{ev.typ: ev.body}}
		b, err := json.Marshal(cl)
		if err != nil {
			return nil, mayfly.E("ssf.queued", err)
		}
		out = append(out, mayfly.QueuedSET{StreamID: st.ID, JTI: jti, Claims: b, CreatedAt: now, NextAttempt: now})
	}
	return out, nil
}

func (s *Service) jti() (string, error) {
	var b [16]byte
	if _, err := s.cfg.Rand.Read(b[:]); err != nil {
		return "", mayfly.E("ssf.jti", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func revocationTxn(seq int64) string { return "revocation-" + strconv.FormatInt(seq, 10) }
