// Package console serves Mayfly's web console at /console: server-rendered
// pages (html/template) for the people who run Mayfly and the people who
// investigate with it, with the stylesheet, a small script for the live
// parts and the message files embedded in the binary. Charts are SVG drawn
// on the server; nothing is fetched from elsewhere.
//
// # Invariants
//
//   - A page or action needs a session, made by posting an admin
//     credential to /console/login. The session cookie is HttpOnly,
//     SameSite=Strict, Secure behind https, and holds only a random ID; the
//     session keeps the credential's hash, never its secret, and checks it
//     again on every request, so a revoked credential ends its sessions.
//   - Every state change is a POST, checked by net/http's
//     CrossOriginProtection, and allowed by the same role table as the
//     admin API route it stands for (Config.Allows). A role that may not
//     make a change is not shown the button for it.
//   - Every response carries a strict Content-Security-Policy: scripts,
//     styles and connections only from the console itself, no inline
//     script or style, no framing.
//   - No page shows private key material or a stored secret; a new
//     client's secret is shown once, in the response that created it.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/api"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/alert"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/doctor"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/offboard"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/token"
)

// Path is where the console is served.
const Path = "/console"

//go:embed templates/*.html static/* messages/*.json
var files embed.FS

// CSP is the Content-Security-Policy of every console response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Reporter is a service that reports to the access ledger, as last heard.
type Reporter struct {
	Service       string
	LastReport    time.Time
	RevocationSeq int64
}

// Subscriber is an open revocation stream.
type Subscriber struct {
	Who, Source string // the client, or "admin"; its address
	Since       time.Time
	Seq         int64 // the last revocation sent to it
}

// Config configures a Handler.
type Config struct {
	Keys     *keys.Service
	Identity *identity.Service
	Token    *token.Service
	Audit    *audit.Log
	Offboard *offboard.Service
	Revoker  *revoke.Service
	Doctor   *doctor.Service
	Alerts   *alert.Service       // nil: no alerts pages
	Rules    []detect.RuleSetting // the detection rules as configured
	Clock    mayfly.Clock
	Log      *slog.Logger
	// Allows reports whether a credential of role may call the admin API
	// route pattern (such as "POST /v1/rings/{name}/rotate"): the console
	// allows what the API allows, from one table.
	Allows func(pattern string, role mayfly.Role) bool
	// Guard runs an authentication under the admin lockout.
	Guard func(r *http.Request, auth func() error) error
	// SourceIP is the request's client address, for the audit log.
	SourceIP func(r *http.Request) string
	// Subscribers lists the revocation streams open now, and Reporters
	// the services reporting to the ledger, both as this process sees
	// them. Either may be nil.
	Subscribers func() []Subscriber
	Reporters   func() []Reporter
	// HTTPS says the console is reached over https even where the request
	// came in plain (a proxy ended TLS): its cookies are then Secure.
	// Requests over TLS are https whatever it says.
	HTTPS bool
	// IdleTimeout and MaxAge bound a session: since its last request and
	// since login. Zero means 30 minutes and 12 hours.
	IdleTimeout, MaxAge time.Duration
	// Closing is closed when the server shuts down: event streams end.
	Closing <-chan struct{}
}

// Handler serves the console.
type Handler struct {
	cfg      Config
	mux      *http.ServeMux
	pages    map[string]*template.Template
	msgs     map[string]messages
	sessions *sessions
	csrf     *http.CrossOriginProtection
	static   http.Handler

	mu     sync.Mutex
	runs   map[string]*run // offboardings this process is running, by principal ID
	doctor doctorState
}

// run is an offboarding started from the console.
type run struct {
	done bool
	err  error
}

// New returns the console's handler, to be mounted at Path.
func New(cfg Config) (*Handler, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(), runs: map[string]*run{},
		sessions: newSessions(cfg.Clock, cfg.IdleTimeout, cfg.MaxAge, cfg.HTTPS)}
	h.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, nil, mayfly.Errorf(mayfly.PermissionDenied, "cross-origin request refused"))
	}))
	var err error
	if h.msgs, err = loadMessages(); err != nil {
		return nil, err
	}
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(files, "static")
	h.static = http.StripPrefix(Path+"/static/", http.FileServerFS(static))
	h.routes()
	return h, nil
}

// ServeHTTP implements http.Handler: every response gets the security
// headers, and every state change the cross-origin check.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.csrf.Handler(h.mux).ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	T       messages
	Lang    string
	Title   string
	Nav     string // the section the page belongs to
	Session *session
	Can     func(pattern string) bool
	Flash   string
	Back    string // where the language form returns to
	Data    any
}

// render writes the named page with status code.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, s *session, nav string, data any) {
	t, ok := h.pages[name]
	if !ok {
		panic("console: no page " + name)
	}
	p := &page{T: h.lang(r), Session: s, Nav: nav, Data: data, Flash: r.URL.Query().Get("done")}
	p.Lang = p.T.Get("lang")
	p.Back = Path + "/"
	if r.Method == http.MethodGet {
		p.Back = safeBack(r.URL.RequestURI())
	}
	p.Title = p.T.Get(name)
	if hd, ok := data.(interface{ Heading() string }); ok {
		p.Title += ": " + hd.Heading()
	}
	p.Can = func(pattern string) bool { return s != nil && h.cfg.Allows(pattern, s.Role()) }
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		h.cfg.Log.Error("console page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write([]byte(b.String()))
}

// fail shows err's safe message on an error page; the log gets the cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := mayfly.ErrorCode(err)
	level := slog.LevelDebug
	if code == mayfly.Internal {
		level = slog.LevelError
	}
	h.cfg.Log.Log(r.Context(), level, "console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	st := api.Status[code]
	if st == 0 {
		st = http.StatusInternalServerError
	}
	h.render(w, r, st, "error", s, "", mayfly.ErrorMessage(err))
}

// action is a console handler for a signed-in user.
type action func(w http.ResponseWriter, r *http.Request, s *session) error

// route registers pattern for a signed-in user whose role may call every
// admin API route in need; an empty need lets any signed-in user in.
func (h *Handler) route(pattern string, h2 action, need ...string) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s, r, err := h.authenticate(r)
		if err != nil {
			// A page goes to the sign-in form; what the script fetches
			// (the event stream, the alert list) gets 401 instead.
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") && !strings.HasSuffix(r.URL.Path, "/list") {
				http.Redirect(w, r, Path+"/login", http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, err)
			return
		}
		for _, p := range need {
			if !h.cfg.Allows(p, s.Role()) {
				h.fail(w, r, s, mayfly.Errorf(mayfly.PermissionDenied, "a credential of role %s may not do this (%s)", s.Role(), p))
				return
			}
		}
		if err := h2(w, r, s); err != nil {
			h.fail(w, r, s, err)
		}
	})
}

// authenticate finds the request's session, checks its credential still
// works, and returns the request carrying the credential as the caller.
func (h *Handler) authenticate(r *http.Request) (*session, *http.Request, error) {
	s := h.sessions.get(r)
	if s == nil {
		return nil, r, mayfly.Errorf(mayfly.Unauthenticated, "sign in to the console first")
	}
	a, err := h.cfg.Identity.AuthenticateAdminHash(r.Context(), s.hash)
	if err != nil || a.ID != s.credential {
		h.sessions.end(s)
		if err != nil && mayfly.ErrorCode(err) != mayfly.Unauthenticated {
			return nil, r, err
		}
		return nil, r, mayfly.Errorf(mayfly.Unauthenticated, "the session's credential no longer works; sign in again")
	}
	s.setRole(a.Role)
	return s, r.WithContext(identity.WithCaller(audit.WithActor(r.Context(), a.ID), a)), nil
}

// redirect answers a form post by sending the browser to path (post,
// redirect, get: a reload does not post again).
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// background is a context for work that outlives the request that started
// it, keeping the request's caller for the audit log.
func background(r *http.Request) context.Context {
	return context.WithoutCancel(r.Context())
}

var errNoAlerts = errors.New("alerts are not served here")
