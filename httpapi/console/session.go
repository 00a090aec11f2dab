package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Sessions live in this process's memory: a restart signs everyone out,
// and each replica keeps its own.

const (
	cookieName       = "mayfly_console"
	secureCookieName = "__Host-mayfly_console" // behind https: bound to this host and path /
	maxSessions      = 10000
)

// session is a signed-in user.
type session struct {
	id         [32]byte // SHA-256 of the cookie's value
	credential string   // the admin credential's ID
	name       string
	hash       []byte // the credential secret's hash, to check it still works
	created    time.Time
	mu         sync.Mutex
	seen       time.Time
	role       mayfly.Role // under mu: every request re-reads it from the store
}

// Name is the credential's name, for the page header.
func (s *session) Name() string { return s.name }

// Role is the credential's role as of the latest request.
func (s *session) Role() mayfly.Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.role
}

func (s *session) setRole(r mayfly.Role) {
	s.mu.Lock()
	s.role = r
	s.mu.Unlock()
}

type sessions struct {
	clock          mayfly.Clock
	idle, absolute time.Duration
	https          bool // every request came over https, whatever r.TLS says
	mu             sync.Mutex
	m              map[[32]byte]*session
}

func newSessions(clock mayfly.Clock, idle, absolute time.Duration, https bool) *sessions {
	return &sessions{clock: clock, idle: idle, absolute: absolute, https: https, m: map[[32]byte]*session{}}
}

// secure reports whether r came over https, and the name of the session
// cookie there.
func (ss *sessions) secure(r *http.Request) (bool, string) {
	if r.TLS != nil || ss.https {
		return true, secureCookieName
	}
	return false, cookieName
}

// start makes a session for a and sets its cookie.
func (ss *sessions) start(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential, hash []byte) *session {
	var raw [32]byte
	rand.Read(raw[:])
	value := base64.RawURLEncoding.EncodeToString(raw[:])
	now := ss.clock.Now()
	s := &session{id: sha256.Sum256([]byte(value)), credential: a.ID, name: a.Name, hash: hash, role: a.Role, created: now, seen: now}
	ss.mu.Lock()
	if len(ss.m) >= maxSessions {
		ss.sweep(now)
	}
	if len(ss.m) >= maxSessions { // still full: the oldest goes
		var old *session
		for _, o := range ss.m {
			if old == nil || o.created.Before(old.created) {
				old = o
			}
		}
		delete(ss.m, old.id)
	}
	ss.m[s.id] = s
	ss.mu.Unlock()
	secure, name := ss.secure(r)
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(ss.absolute / time.Second)})
	return s
}

// sweep drops expired sessions; ss.mu is held.
func (ss *sessions) sweep(now time.Time) {
	for id, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, id)
		}
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Sub(s.seen) >= ss.idle || now.Sub(s.created) >= ss.absolute
}

// get returns the request's live session, marking it seen, or nil.
func (ss *sessions) get(r *http.Request) *session {
	_, name := ss.secure(r)
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil
	}
	id := sha256.Sum256([]byte(c.Value))
	now := ss.clock.Now()
	ss.mu.Lock()
	s := ss.m[id]
	if s != nil && ss.expired(s, now) {
		delete(ss.m, id)
		s = nil
	}
	ss.mu.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.seen = now
	s.mu.Unlock()
	return s
}

// end forgets s.
func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	delete(ss.m, s.id)
	ss.mu.Unlock()
}

// clear tells the browser to drop the cookie.
func (ss *sessions) clear(w http.ResponseWriter, r *http.Request) {
	secure, name := ss.secure(r)
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
