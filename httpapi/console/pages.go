package console

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/offboard"
)

// The admin API routes whose role table the console follows.
const (
	routeReadPeople  = "GET /v1/principals"
	routeCreatePrin  = "POST /v1/principals"
	routeCreateCli   = "POST /v1/clients"
	routeReadRings   = "GET /v1/rings"
	routeRotate      = "POST /v1/rings/{name}/rotate"
	routeRevokeKey   = "POST /v1/keys/{kid}/revoke"
	routeOffboard    = "POST /v1/principals/{ref}/offboard"
	routeTokens      = "GET /v1/tokens"
	routeAudit       = "GET /v1/audit"
	routeAuditVerify = "POST /v1/audit/verify"
	routeProof       = "GET /v1/audit/proof/{index}"
	routeDoctor      = "GET /v1/doctor"
	routeAlerts      = "GET " + api.AlertsPath
	routeAck         = "POST " + api.AlertsPath + "/{id}/ack"
	routeResolve     = "POST " + api.AlertsPath + "/{id}/resolve"
)

// pageSize bounds every list a page shows.
const pageSize = 100

func (h *Handler) routes() {
	h.mux.Handle("GET "+Path+"/static/", h.static)
	h.mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) { redirect(w, r, Path+"/") })
	h.mux.HandleFunc("GET "+Path+"/login", h.loginPage)
	h.mux.HandleFunc("POST "+Path+"/login", h.login)
	h.mux.HandleFunc("POST "+Path+"/logout", h.logout)
	h.mux.HandleFunc("POST "+Path+"/lang", h.setLang)
	h.route("GET "+Path+"/{$}", h.overview)
	h.route("GET "+Path+"/rings", h.rings, routeReadRings)
	h.route("GET "+Path+"/rings/{name}", h.ring, routeReadRings)
	h.route("GET "+Path+"/rings/{name}/rotate", h.confirmRotate, routeRotate)
	h.route("POST "+Path+"/rings/{name}/rotate", h.rotate, routeRotate)
	h.route("GET "+Path+"/keys/{kid}/revoke", h.confirmRevokeKey, routeRevokeKey)
	h.route("POST "+Path+"/keys/{kid}/revoke", h.revokeKey, routeRevokeKey)
	h.route("GET "+Path+"/people", h.people, routeReadPeople)
	h.route("POST "+Path+"/people", h.createPerson, routeCreatePrin)
	h.route("GET "+Path+"/people/{id}", h.person, routeReadPeople)
	h.route("POST "+Path+"/people/{id}/clients", h.createClient, routeCreateCli)
	h.route("GET "+Path+"/people/{id}/offboard", h.previewOffboard, routeOffboard)
	h.route("POST "+Path+"/people/{id}/offboard", h.offboard, routeOffboard)
	h.route("GET "+Path+"/people/{id}/offboarding", h.offboarding, routeReadPeople)
	h.route("GET "+Path+"/tokens", h.tokens, routeTokens)
	h.route("GET "+Path+"/audit", h.audit, routeAudit)
	h.route("POST "+Path+"/audit/verify", h.auditVerify, routeAuditVerify)
	h.route("GET "+Path+"/audit/{index}/proof", h.auditProof, routeProof)
	h.route("GET "+Path+"/alerts", h.alerts, routeAlerts)
	h.route("GET "+Path+"/alerts/list", h.alertList, routeAlerts)
	h.route("GET "+Path+"/alerts/events", h.alertEvents, routeAlerts)
	h.route("POST "+Path+"/alerts/{id}/ack", h.changeAlert(true), routeAck)
	h.route("POST "+Path+"/alerts/{id}/resolve", h.changeAlert(false), routeResolve)
	// Scope and leak pages join here as those features land: a route per
	// page, its admin API route as the need, and an entry in the nav of
	// templates/layout.html.
	h.mux.HandleFunc(Path+"/", func(w http.ResponseWriter, r *http.Request) {
		s, _, _ := h.authenticate(r)
		h.fail(w, r, s, mayfly.Errorf(mayfly.NotFound, "no console page at %s", r.URL.Path))
	})
}

// Signing in and out.

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if s := h.sessions.get(r); s != nil {
		redirect(w, r, Path+"/")
		return
	}
	h.render(w, r, http.StatusOK, "login", nil, "", nil)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "login", nil, "", h.lang(r).Get("login_failed"))
		return
	}
	secret := r.PostForm.Get("token")
	var a *mayfly.AdminCredential
	err := h.cfg.Guard(r, func() (err error) {
		a, err = h.cfg.Identity.AuthenticateAdmin(r.Context(), secret)
		return err
	})
	if err == nil && a.Role == mayfly.RoleSCIM {
		err = mayfly.Errorf(mayfly.PermissionDenied, "a SCIM credential may not sign in to the console")
	}
	if err == nil {
		err = h.cfg.Identity.AdminLogin(r.Context(), a, h.cfg.SourceIP(r))
	}
	if err != nil {
		h.cfg.Log.Debug("console sign-in refused", "err", err)
		code := api.Status[mayfly.ErrorCode(err)]
		if code == 0 {
			code = http.StatusInternalServerError
		}
		msg := h.lang(r).Get("login_failed")
		if mayfly.ErrorCode(err) == mayfly.RateLimited || mayfly.ErrorCode(err) == mayfly.PermissionDenied {
			msg = mayfly.ErrorMessage(err)
		}
		h.render(w, r, code, "login", nil, "", msg)
		return
	}
	h.sessions.start(w, r, a, identity.HashSecret(secret))
	redirect(w, r, Path+"/")
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if s := h.sessions.get(r); s != nil {
		h.sessions.end(s)
	}
	h.sessions.clear(w, r)
	redirect(w, r, Path+"/login")
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.FormValue("lang")
	if _, ok := h.msgs[l]; ok {
		secure, _ := h.sessions.secure(r)
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: Path, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure, MaxAge: 365 * 86400})
	}
	redirect(w, r, safeBack(r.FormValue("back")))
}

// safeBack is where the language form may send the browser back to: a
// console page of this origin, else the overview; never another site.
func safeBack(back string) string {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.ContainsAny(back, "\\\x00\r\n\t") {
		return Path + "/"
	}
	p := path.Clean(u.Path)
	if p != Path && !strings.HasPrefix(p, Path+"/") {
		return Path + "/"
	}
	out := &url.URL{Path: p, RawQuery: u.RawQuery}
	return out.String()
}

// Overview.

// keyBar is a ring's signing key drawn as two bars: its age against the
// ring's lifetime, and the lifetime against the hard ceiling. One scale
// for both would leave a day's lifetime a sliver beside a 30-day ceiling.
type keyBar struct {
	Ring, KID           string
	Age, Left, Lifetime time.Duration
	AgeW, LifeW, Max    float64 // SVG widths out of Max
	Over                bool    // the key has signed past its ring's lifetime
	OverCeiling         bool    // the ring's lifetime is above the ceiling
	Active              bool
}

type overviewData struct {
	Alerts      []*mayfly.Alert
	AlertsOK    bool
	Findings    []mayfly.Finding
	Doctor      string // why there are no findings to show, if so
	DoctorAt    time.Time
	DoctorTotal int
	Bars        []keyBar
	Ceiling     time.Duration
	Subscribers []Subscriber
	Seq         int64
	Reporters   []Reporter
}

const barWidth = 300.0

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	now := h.cfg.Clock.Now()
	d := overviewData{Ceiling: h.cfg.Keys.Ceiling(), Seq: h.cfg.Revoker.Seq()}
	if h.cfg.Allows(routeReadRings, s.Role()) {
		d.Bars = h.keyBars(now)
	}
	if h.cfg.Alerts != nil && h.cfg.Allows(routeAlerts, s.Role()) {
		list, err := h.cfg.Alerts.List(r.Context(), mayfly.AlertFilter{State: mayfly.AlertOpen, Limit: 20})
		if err != nil {
			return err
		}
		d.Alerts, d.AlertsOK = list, true
	}
	if h.cfg.Doctor != nil && h.cfg.Allows(routeDoctor, s.Role()) {
		rep, err := h.doctorReport(r.Context())
		switch {
		case err != nil:
			d.Doctor = mayfly.ErrorMessage(err)
		case rep == nil:
			d.Doctor = h.lang(r).Get("doctor_running")
		default:
			d.Findings, d.DoctorAt, d.DoctorTotal = rep.Findings, rep.At, rep.Total
			if len(d.Findings) > 20 {
				d.Findings = d.Findings[:20]
			}
		}
	}
	if h.cfg.Subscribers != nil {
		d.Subscribers = h.cfg.Subscribers()
		if len(d.Subscribers) > pageSize {
			d.Subscribers = d.Subscribers[:pageSize]
		}
	}
	if h.cfg.Reporters != nil {
		d.Reporters = h.cfg.Reporters()
	}
	h.render(w, r, http.StatusOK, "overview", s, "overview", d)
	return nil
}

// keyBars draws each ring's signing key, or its newest key if none signs.
func (h *Handler) keyBars(now time.Time) []keyBar {
	ceiling := h.cfg.Keys.Ceiling()
	var out []keyBar
	for _, ring := range h.cfg.Keys.Rings() {
		k := shownKey(h.cfg.Keys.Keys(ring.Name), now)
		b := keyBar{Ring: ring.Name, Lifetime: ring.Lifetime, Max: barWidth, OverCeiling: ceiling > 0 && ring.Lifetime > ceiling}
		if k != nil {
			b.KID, b.Active = k.KID, k.State(now) == mayfly.KeyActive
			if b.Active {
				b.Age, b.Left = now.Sub(k.ActivateAt), k.DeactivateAt.Sub(now)
			}
			b.Over = b.Age > ring.Lifetime
		}
		if ring.Lifetime > 0 {
			b.AgeW = min(barWidth, barWidth*float64(b.Age)/float64(ring.Lifetime))
		}
		b.LifeW = barWidth
		if ceiling > 0 {
			b.LifeW = min(barWidth, barWidth*float64(ring.Lifetime)/float64(ceiling))
		}
		out = append(out, b)
	}
	return out
}

// shownKey is the key a ring's bar shows: the one signing, else the
// newest not revoked, else none.
func shownKey(ks []*mayfly.Key, now time.Time) *mayfly.Key {
	var newest *mayfly.Key
	for _, k := range ks {
		switch k.State(now) {
		case mayfly.KeyActive:
			return k
		case mayfly.KeyRevoked:
		default:
			if newest == nil || k.CreatedAt.After(newest.CreatedAt) {
				newest = k
			}
		}
	}
	return newest
}

// Keys and rings.

type ringRow struct {
	Ring   *mayfly.Ring
	Keys   int
	Active string
	Bar    keyBar
}

func (h *Handler) rings(w http.ResponseWriter, r *http.Request, s *session) error {
	now := h.cfg.Clock.Now()
	bars := map[string]keyBar{}
	for _, b := range h.keyBars(now) {
		bars[b.Ring] = b
	}
	var rows []ringRow
	for _, ring := range h.cfg.Keys.Rings() {
		row := ringRow{Ring: ring, Bar: bars[ring.Name]}
		for _, k := range h.cfg.Keys.Keys(ring.Name) {
			row.Keys++
			if k.State(now) == mayfly.KeyActive {
				row.Active = k.KID
			}
		}
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, "rings", s, "rings", struct {
		Rows    []ringRow
		Ceiling time.Duration
	}{rows, h.cfg.Keys.Ceiling()})
	return nil
}

// span is one key's life on the ring's timeline chart.
type span struct {
	Key          *mayfly.Key
	State        mayfly.KeyState
	Y            int
	NextX, NextW float64 // published, not signing
	SignX, SignW float64 // signing
	RetX, RetW   float64 // retiring
	RevX         float64 // revoked at, if revoked
	Revoked      bool
	Revocable    bool
	LabelX       float64
}

type ringData struct {
	Ring     *mayfly.Ring
	Spans    []span
	Width    float64
	Height   int
	AxisY    int
	NowX     float64
	From, To time.Time
	Custody  []custodyRow
	Bar      keyBar
}

type custodyRow struct {
	Custody *mayfly.Custody
	Name    string
}

const chartWidth = 640.0

func (h *Handler) ring(w http.ResponseWriter, r *http.Request, s *session) error {
	ring, err := h.cfg.Keys.Ring(r.PathValue("name"))
	if err != nil {
		return err
	}
	now := h.cfg.Clock.Now()
	ks := h.cfg.Keys.Keys(ring.Name)
	slices.SortFunc(ks, func(a, b *mayfly.Key) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if len(ks) > 20 { // the newest: a long-lived ring has had many
		ks = ks[len(ks)-20:]
	}
	d := ringData{Ring: ring, Width: chartWidth}
	if len(ks) > 0 {
		d.From, d.To = ks[0].CreatedAt, now
		for _, k := range ks {
			d.To = maxTime(d.To, k.RetireAt)
		}
	}
	span0 := float64(d.To.Sub(d.From))
	x := func(t time.Time) float64 {
		if span0 <= 0 {
			return 0
		}
		return chartWidth * float64(t.Sub(d.From)) / span0
	}
	for i, k := range ks {
		sp := span{Key: k, State: k.State(now), Y: i * 32}
		end := func(t time.Time) time.Time {
			if !k.RevokedAt.IsZero() && k.RevokedAt.Before(t) {
				return k.RevokedAt
			}
			return t
		}
		a, dct, ret := end(k.ActivateAt), end(k.DeactivateAt), end(k.RetireAt)
		sp.NextX, sp.NextW = x(k.CreatedAt), x(a)-x(k.CreatedAt)
		sp.SignX, sp.SignW = x(a), x(dct)-x(a)
		sp.RetX, sp.RetW = x(dct), x(ret)-x(dct)
		if !k.RevokedAt.IsZero() {
			sp.Revoked, sp.RevX = true, x(k.RevokedAt)
		}
		sp.Revocable = sp.State != mayfly.KeyRevoked && sp.State != mayfly.KeyRetired
		sp.LabelX = min(sp.NextX, chartWidth-140)
		d.Spans = append(d.Spans, sp)
	}
	d.AxisY = len(d.Spans)*32 + 4
	d.Height = d.AxisY + 36
	d.NowX = x(now)
	for _, b := range h.keyBars(now) {
		if b.Ring == ring.Name {
			d.Bar = b
		}
	}
	cs, err := h.cfg.Identity.Custody(r.Context(), mayfly.CustodyFilter{Asset: mayfly.AssetRing, AssetID: ring.Name})
	if err != nil {
		return err
	}
	d.Custody = h.custodyRows(r, cs)
	h.render(w, r, http.StatusOK, "ring", s, "rings", d)
	return nil
}

// Heading names the ring in the page's title.
func (d ringData) Heading() string { return d.Ring.Name }

// Heading names the person in the page's title.
func (d *personData) Heading() string { return d.Person.Name }

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// custodyRows names the principals of custody records.
func (h *Handler) custodyRows(r *http.Request, cs []*mayfly.Custody) []custodyRow {
	var out []custodyRow
	for _, c := range cs {
		name := c.PrincipalID
		if p, err := h.cfg.Identity.Principal(r.Context(), c.PrincipalID); err == nil {
			name = p.Name
		}
		out = append(out, custodyRow{Custody: c, Name: name})
	}
	return out
}

func (h *Handler) confirmRotate(w http.ResponseWriter, r *http.Request, s *session) error {
	ring, err := h.cfg.Keys.Ring(r.PathValue("name"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "confirm", s, "rings", confirmData{
		Question: fmt.Sprintf(h.lang(r).Get("confirm_rotate"), ring.Name),
		Action:   Path + "/rings/" + url.PathEscape(ring.Name) + "/rotate", Button: "rotate", Back: Path + "/rings/" + url.PathEscape(ring.Name),
	})
	return nil
}

type confirmData struct {
	Question, Action, Button, Back string
	Reason                         bool
}

func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("name")
	if err := h.cfg.Keys.Rotate(r.Context(), name); err != nil {
		return err
	}
	redirect(w, r, Path+"/rings/"+url.PathEscape(name)+"?done=rotated")
	return nil
}

func (h *Handler) confirmRevokeKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := h.cfg.Keys.Key(r.PathValue("kid"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "confirm", s, "rings", confirmData{
		Question: fmt.Sprintf(h.lang(r).Get("confirm_revoke_key"), k.KID, k.Ring),
		Action:   Path + "/keys/" + url.PathEscape(k.KID) + "/revoke", Button: "revoke", Back: Path + "/rings/" + url.PathEscape(k.Ring), Reason: true,
	})
	return nil
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := h.cfg.Keys.Key(r.PathValue("kid"))
	if err != nil {
		return err
	}
	reason := r.PostFormValue("reason")
	if reason == "" {
		reason = "revoked from the console by " + s.name
	}
	if _, err := h.cfg.Keys.Revoke(r.Context(), k.KID, reason); err != nil {
		return err
	}
	redirect(w, r, Path+"/rings/"+url.PathEscape(k.Ring)+"?done=revoked")
	return nil
}

// People and custody.

type peopleData struct {
	Query string
	Rows  []*mayfly.Principal
	Total int
	More  bool
}

func (h *Handler) people(w http.ResponseWriter, r *http.Request, s *session) error {
	ps, err := h.cfg.Identity.Principals(r.Context())
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	d := peopleData{Query: q, Total: len(ps)}
	for _, p := range ps {
		if q != "" && !strings.Contains(strings.ToLower(p.Name), q) && !strings.Contains(strings.ToLower(p.DisplayName), q) && p.ID != q {
			continue
		}
		if len(d.Rows) == pageSize {
			d.More = true
			break
		}
		d.Rows = append(d.Rows, p)
	}
	h.render(w, r, http.StatusOK, "people", s, "people", d)
	return nil
}

func (h *Handler) createPerson(w http.ResponseWriter, r *http.Request, s *session) error {
	kind := mayfly.PrincipalKind(r.PostFormValue("kind"))
	if kind == "" {
		kind = mayfly.Human
	}
	p, err := h.cfg.Identity.CreatePrincipal(r.Context(), r.PostFormValue("name"), kind, r.PostFormValue("owner"))
	if err != nil {
		return err
	}
	redirect(w, r, Path+"/people/"+url.PathEscape(p.ID)+"?done=created")
	return nil
}

// node is one thing in a person's custody graph.
type node struct {
	Kind, Label, Href, Why string
	Y                      int
}

type personData struct {
	Person   *mayfly.Principal
	Owner    string
	Services []*mayfly.Principal
	Clients  []*mayfly.Client
	Custody  []*mayfly.Custody
	Nodes    []node
	Height   int
	Runs     []*mayfly.Offboarding
	Rings    []*mayfly.Ring
	Secret   string // a new client's secret, shown once
	NewID    string
}

func (h *Handler) person(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.personData(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "person", s, "people", d)
	return nil
}

func (h *Handler) personData(r *http.Request) (*personData, error) {
	ctx := r.Context()
	p, err := h.cfg.Identity.Principal(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	d := &personData{Person: p, Rings: h.cfg.Keys.Rings()}
	if p.OwnerID != "" {
		if o, err := h.cfg.Identity.Principal(ctx, p.OwnerID); err == nil {
			d.Owner = o.Name
		}
	}
	if d.Services, d.Clients, err = h.cfg.Identity.Owned(ctx, p.ID); err != nil {
		return nil, err
	}
	if d.Custody, err = h.cfg.Identity.Custody(ctx, mayfly.CustodyFilter{PrincipalID: p.ID}); err != nil {
		return nil, err
	}
	if d.Runs, err = h.cfg.Offboard.Runs(ctx, p.ID); err != nil {
		return nil, err
	}
	// The graph: the person on the left; what they own or could have
	// seen on the right, one row each.
	add := func(kind, label, href, why string) {
		d.Nodes = append(d.Nodes, node{Kind: kind, Label: label, Href: href, Why: why, Y: 20 + len(d.Nodes)*28})
	}
	for _, c := range d.Custody {
		switch c.Asset {
		case mayfly.AssetRing:
			add("ring", c.AssetID, Path+"/rings/"+url.PathEscape(c.AssetID), string(c.Kind))
		case mayfly.AssetRootKey:
			add("root_key", "root key", "", string(c.Kind))
		case mayfly.AssetClientSecret:
			add("client_secret", c.AssetID, "", string(c.Kind))
		case mayfly.AssetCredential:
			add("credential", c.AssetID, "", string(c.Kind))
		}
	}
	for _, sp := range d.Services {
		add("service", sp.Name, Path+"/people/"+url.PathEscape(sp.ID), "owner")
	}
	for _, c := range d.Clients {
		add("client", c.Name, "", "owner")
	}
	if len(d.Nodes) > 40 {
		d.Nodes = d.Nodes[:40]
	}
	d.Height = max(60, 20+len(d.Nodes)*28)
	return d, nil
}

func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, s *session) error {
	p, err := h.cfg.Identity.Principal(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var scopes []string
	if v := strings.TrimSpace(r.PostFormValue("scopes")); v != "" {
		scopes = strings.Fields(v)
	}
	c, secret, err := h.cfg.Identity.CreateClient(r.Context(), identity.ClientSpec{Name: r.PostFormValue("name"), Owner: p.ID, Scopes: scopes, Ring: r.PostFormValue("ring")})
	if err != nil {
		return err
	}
	d, err := h.personData(r)
	if err != nil {
		return err
	}
	// Shown once, in the answer to the post that made it: a reload does
	// not post again, and no page shows it after.
	d.Secret, d.NewID = secret, c.ID
	h.render(w, r, http.StatusCreated, "person", s, "people", d)
	return nil
}

func (h *Handler) previewOffboard(w http.ResponseWriter, r *http.Request, s *session) error {
	plan, err := h.cfg.Offboard.Preview(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "offboard", s, "people", plan)
	return nil
}

// offboard starts the run and sends the browser to its report, which
// follows the steps as they complete.
func (h *Handler) offboard(w http.ResponseWriter, r *http.Request, s *session) error {
	p, err := h.cfg.Identity.Principal(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.mu.Lock()
	if cur := h.runs[p.ID]; cur != nil && !cur.done {
		h.mu.Unlock()
		redirect(w, r, Path+"/people/"+url.PathEscape(p.ID)+"/offboarding")
		return nil
	}
	ru := &run{}
	h.runs[p.ID] = ru
	h.mu.Unlock()
	opt := offboard.Options{Reason: r.PostFormValue("reason"), TransferTo: r.PostFormValue("transfer_to")}
	ctx := background(r)
	go func() {
		_, err := h.cfg.Offboard.Offboard(ctx, p.ID, opt)
		if err != nil {
			h.cfg.Log.Warn("offboarding from the console failed", "principal", p.ID, "err", err)
		}
		h.mu.Lock()
		ru.done, ru.err = true, err
		h.mu.Unlock()
	}()
	redirect(w, r, Path+"/people/"+url.PathEscape(p.ID)+"/offboarding")
	return nil
}

type reportData struct {
	Person   *mayfly.Principal
	Run      *mayfly.Offboarding
	Steps    []stepRow
	Running  bool
	Error    string
	Finished bool
}

type stepRow struct {
	Name string
	Done bool
}

func (h *Handler) offboarding(w http.ResponseWriter, r *http.Request, s *session) error {
	p, err := h.cfg.Identity.Principal(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	runs, err := h.cfg.Offboard.Runs(r.Context(), p.ID)
	if err != nil {
		return err
	}
	d := reportData{Person: p}
	if len(runs) > 0 {
		d.Run = runs[len(runs)-1]
		d.Finished = d.Run.Finished()
	}
	h.mu.Lock()
	if ru := h.runs[p.ID]; ru != nil {
		d.Running = !ru.done
		if ru.err != nil {
			d.Error = mayfly.ErrorMessage(ru.err)
		}
	}
	h.mu.Unlock()
	if d.Run == nil && !d.Running && d.Error == "" {
		return mayfly.Errorf(mayfly.NotFound, "%s has not been offboarded", p.Name)
	}
	for _, st := range offboard.Steps() {
		done := d.Run != nil && slices.Contains(d.Run.Done, st)
		d.Steps = append(d.Steps, stepRow{Name: st, Done: done})
	}
	h.render(w, r, http.StatusOK, "report", s, "people", d)
	return nil
}

// Tokens.

type tokensData struct {
	Filter map[string]string
	Rows   []mayfly.Issuance
	More   bool
}

func (h *Handler) tokens(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	f := mayfly.IssuanceFilter{ClientID: q.Get("client"), KID: q.Get("kid"), JTI: q.Get("jti"), Subject: q.Get("sub"), Limit: pageSize + 1}
	d := tokensData{Filter: map[string]string{"client": f.ClientID, "kid": f.KID, "jti": f.JTI, "sub": f.Subject}}
	rows, err := h.cfg.Token.Issuances(r.Context(), f)
	if err != nil {
		return err
	}
	if len(rows) > pageSize {
		rows, d.More = rows[:pageSize], true
	}
	d.Rows = rows
	h.render(w, r, http.StatusOK, "tokens", s, "tokens", d)
	return nil
}

// Audit.

type auditData struct {
	Filter     map[string]string
	Rows       []mayfly.AuditRecord
	Next       string // the query of the next, older page
	Checkpoint *mayfly.Checkpoint
	Report     *mayfly.AuditReport
	Size       uint64
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.auditData(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "audit", s, "audit", d)
	return nil
}

func (h *Handler) auditData(r *http.Request) (*auditData, error) {
	q := r.URL.Query()
	f := mayfly.AuditFilter{Action: mayfly.Action(q.Get("action")), Principal: q.Get("principal"), Client: q.Get("client"), KID: q.Get("kid"),
		Limit: pageSize + 1, Newest: true}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, mayfly.InvalidField("before", "before %q is not an entry index", v)
		}
		f.To = n
	}
	d := &auditData{Filter: map[string]string{"action": string(f.Action), "principal": f.Principal, "client": f.Client, "kid": f.KID}, Size: h.cfg.Audit.Size()}
	rows, err := h.cfg.Audit.Search(r.Context(), f)
	if err != nil {
		return nil, err
	}
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		next := url.Values{}
		for k, v := range d.Filter {
			if v != "" {
				next.Set(k, v)
			}
		}
		next.Set("before", strconv.FormatUint(rows[len(rows)-1].Index, 10))
		d.Next = next.Encode()
	}
	d.Rows = rows
	if d.Checkpoint, err = h.cfg.Audit.Checkpoint(r.Context()); err != nil {
		return nil, err
	}
	return d, nil
}

func (h *Handler) auditVerify(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.auditData(r)
	if err != nil {
		return err
	}
	if d.Report, err = h.cfg.Audit.Verify(r.Context()); err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "audit", s, "audit", d)
	return nil
}

// auditProof downloads an entry's inclusion proof against the latest
// checkpoint, as GET /v1/audit/proof/{index} answers it.
func (h *Handler) auditProof(w http.ResponseWriter, r *http.Request, s *session) error {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		return mayfly.InvalidField("index", "%q is not an entry index", r.PathValue("index"))
	}
	cp, err := h.cfg.Audit.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	if idx >= cp.Size {
		return mayfly.Errorf(mayfly.NotFound, "no entry %d under the latest checkpoint, of %d entries", idx, cp.Size)
	}
	recs, err := h.cfg.Audit.Search(r.Context(), mayfly.AuditFilter{From: idx, To: idx + 1, Limit: 1})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return mayfly.Errorf(mayfly.NotFound, "no entry %d", idx)
	}
	out := api.InclusionProof{Index: idx, Size: cp.Size, Checkpoint: cp.Note, LeafHash: recs[0].LeafHash}
	if out.Proof, err = h.cfg.Audit.Inclusion(r.Context(), idx, cp.Size); err != nil {
		return err
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="mayfly-audit-%d-proof.json"`, idx))
	hd.Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
	return nil
}

// sortedKeys is for templates that list a map.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, cmp.Compare)
	return ks
}
