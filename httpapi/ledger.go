package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi/console"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// The access ledger's routes. Services post reports and heartbeats as
// their own client (client_secret_basic, as at the token endpoint), and
// only in their own name; the admin credential may post for any service,
// for imports. Those two routes answer errors as OAuth endpoints do
// (error, error_description), since a service's client calls them.

func (s *Server) ledgerRoutes() {
	if s.cfg.Ingest == nil {
		return
	}
	m := s.cfg.Ingest.Metrics()
	s.ledgerRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mayfly_ledger_refused_batches_total", Help: "Report batches and heartbeats refused, by reason (invalid, unauthenticated, forbidden, too_large, error).",
	}, []string{"reason"})
	s.cfg.Registry.MustRegister(s.ledgerRefused,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mayfly_ledger_reports_total", Help: "Reports accepted into the ledger's journal."},
			func() float64 { return float64(m.Reports.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mayfly_ledger_record_reads_total", Help: "Record IDs read in the reports accepted."},
			func() float64 { return float64(m.RecordReads.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mayfly_ledger_journal_depth", Help: "Accepted batches not yet merged into the ledger."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				n, err := s.cfg.Ingest.Depth(ctx)
				if err != nil {
					return -1
				}
				return float64(n)
			}),
	)
	s.handle("POST "+api.LedgerEventsPath, s.ledgerEvents)
	s.handle("POST "+api.LedgerHeartbeatPath, s.ledgerHeartbeat)
	s.admin("GET "+api.LedgerPath, reading, noBody(s.ledgerBuckets))
	s.admin("GET "+api.LedgerGapsPath, reading, noBody(s.ledgerGaps))
}

// ledgerFail answers an ingest route's error, OAuth style.
func (s *Server) ledgerFail(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	code, st, reason := "server_error", http.StatusInternalServerError, "error"
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) || errors.Is(err, errTooLarge):
		code, st, reason = "invalid_request", http.StatusRequestEntityTooLarge, "too_large"
	default:
		switch mayfly.ErrorCode(err) {
		case mayfly.Invalid, mayfly.NotFound:
			code, st, reason = "invalid_request", http.StatusBadRequest, "invalid"
		case mayfly.Unauthenticated:
			code, st, reason = "invalid_client", http.StatusUnauthorized, "unauthenticated"
			w.Header().Set("WWW-Authenticate", `Basic realm="mayfly"`)
		case mayfly.PermissionDenied:
			code, st, reason = "access_denied", http.StatusForbidden, "forbidden"
		case mayfly.RateLimited:
			code, st, reason = "temporarily_unavailable", http.StatusTooManyRequests, "rate_limited"
		case mayfly.Unavailable:
			code, st = "temporarily_unavailable", http.StatusServiceUnavailable
		}
	}
	s.ledgerRefused.WithLabelValues(reason).Inc()
	retryAfter(w, st, err)
	msg := mayfly.ErrorMessage(err)
	if st == http.StatusRequestEntityTooLarge {
		msg = fmt.Sprintf("the batch is larger than %d bytes", ledger.DefaultBatchBytes)
	}
	writeJSON(w, st, oauthError{Error: code, Description: msg})
}

var errTooLarge = errors.New("the batch is too large")

// reporter is who posts reports: a service's client, or an admin.
type reporter struct {
	service *mayfly.Principal // the client's owner; nil for an admin
	name    string            // for the log
}

// reporter authenticates a report's poster.
func (s *Server) reporter(r *http.Request) (*reporter, *http.Request, error) {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		a, r, err := s.login(r, bearer, func(role mayfly.Role) bool { return role == mayfly.RoleAdmin },
			func(role mayfly.Role) string {
				return fmt.Sprintf("a credential of role %s may not post ledger reports; a service's own client or the admin may", role)
			})
		if err != nil {
			return nil, r, err
		}
		return &reporter{name: a.ID}, r, nil
	}
	if r.Header.Get("Authorization") == "" {
		return nil, r, mayfly.Errorf(mayfly.Unauthenticated, "ledger reports need the service's client credentials (HTTP Basic) or the admin credential")
	}
	c, err := s.authenticateClient(r, url.Values{})
	if err != nil {
		return nil, r, err
	}
	cl := c.Client()
	owner, err := s.cfg.Identity.Principal(r.Context(), cl.OwnerID)
	if err != nil {
		return nil, r, fmt.Errorf("the owner of client %s: %w", cl.ID, err)
	}
	if owner.Kind != mayfly.Service {
		// A report can raise alerts and, where configured, revoke a key:
		// only a service, which verifies tokens, reports what it accepted.
		return nil, r, mayfly.Errorf(mayfly.PermissionDenied, "client %s belongs to a %s, not a service: only a service's client posts ledger reports", cl.ID, owner.Kind)
	}
	return &reporter{service: owner, name: cl.ID}, r, nil
}

// serviceOf checks that the reporter may report for the service a line
// names, and returns that service's name.
func (s *Server) serviceOf(r *http.Request, rep *reporter, line int, named string, known map[string]string) (string, error) {
	if name, ok := known[named]; ok {
		return name, nil
	}
	if rep.service != nil {
		if named != rep.service.ID && named != rep.service.Name {
			return "", mayfly.Errorf(mayfly.PermissionDenied, "line %d: service: client %s reports for %s, not %q", line, rep.name, rep.service.Name, named)
		}
		known[named] = rep.service.Name
		return rep.service.Name, nil
	}
	p, err := s.cfg.Identity.Principal(r.Context(), named)
	if errors.Is(err, mayfly.ErrNotFound) {
		return "", mayfly.InvalidField("service", "line %d: service: no principal is named %q", line, named)
	}
	if err != nil {
		return "", err
	}
	known[named] = p.Name
	return p.Name, nil
}

// countingBody counts what is read through it.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (s *Server) ledgerEvents(w http.ResponseWriter, r *http.Request) {
	rep, r, err := s.reporter(r)
	if err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	if r.ContentLength > ledger.DefaultBatchBytes {
		s.ledgerFail(w, r, errTooLarge)
		return
	}
	body := &countingBody{r: r.Body}
	reports, err := ledger.ParseReports(body, ledger.Limits{})
	if err != nil {
		if body.n > ledger.DefaultBatchBytes {
			err = errTooLarge
		}
		s.ledgerFail(w, r, err)
		return
	}
	known := map[string]string{}
	for i := range reports {
		if reports[i].Service, err = s.serviceOf(r, rep, i+1, reports[i].Service, known); err != nil {
			s.ledgerFail(w, r, err)
			return
		}
	}
	s.cfg.TokenChecker.CheckTokens(reports)
	if _, err := s.cfg.Ingest.Accept(r.Context(), reports[0].Service, reports); err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	s.reported(reports[0].Service, -1)
	writeJSON(w, http.StatusOK, api.LedgerAccepted{Accepted: len(reports)})
}

func (s *Server) ledgerHeartbeat(w http.ResponseWriter, r *http.Request) {
	rep, r, err := s.reporter(r)
	if err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	var hb api.LedgerHeartbeat
	if err := decode(r, &hb); err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	switch {
	case hb.Service == "":
		err = mayfly.InvalidField("service", "a heartbeat names its service")
	case hb.Time.IsZero():
		err = mayfly.InvalidField("time", "a heartbeat needs its time (RFC 3339)")
	case hb.RevocationSeq < 0 || hb.RevocationAgeMS < 0 || hb.Dropped < 0:
		err = mayfly.InvalidField("dropped", "a heartbeat's counts cannot be negative")
	}
	if err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	name, err := s.serviceOf(r, rep, 1, hb.Service, map[string]string{})
	if err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	err = s.cfg.Ingest.Heartbeat(r.Context(), mayfly.LedgerHeartbeat{Service: name, Time: hb.Time, RevocationSeq: hb.RevocationSeq,
		RevocationAge: msDuration(hb.RevocationAgeMS), Dropped: hb.Dropped, DroppedSince: hb.DroppedSince})
	if err != nil {
		s.ledgerFail(w, r, err)
		return
	}
	s.reported(name, hb.RevocationSeq)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ledgerBuckets(w http.ResponseWriter, r *http.Request, _ *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f := mayfly.LedgerFilter{JTI: q.Get("jti"), Digest: q.Get("digest"), Namespace: q.Get("namespace"), KID: q.Get("kid"),
		ClientID: q.Get("client_id"), PrincipalID: q.Get("principal_id"), Subject: q.Get("sub"), Limit: 1000}
	var err error
	if f.From, err = timeParam(q.Get("from")); err != nil {
		return err
	}
	if f.To, err = timeParam(q.Get("to")); err != nil {
		return err
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > 100_000 {
			return mayfly.InvalidField("limit", "limit %q is not a number from 1 to 100000", l)
		}
		f.Limit = n
	}
	bs, err := s.cfg.LedgerStore.LedgerBuckets(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]api.LedgerBucketView, len(bs))
	for i, b := range bs {
		v := api.LedgerBucketView{Start: b.Start, End: b.End(), Token: b.Token, Namespace: b.Namespace, Requests: b.Requests,
			Refusals: b.Refusals, Services: b.Services, ServicesMore: b.ServicesMore, Sources: b.Sources, SourcesMore: b.SourcesMore}
		if len(b.Records) > 0 {
			set := roaring64.New()
			if err := set.UnmarshalBinary(b.Records); err != nil {
				return mayfly.E("ledger", fmt.Errorf("bucket records: %w", err))
			}
			v.RecordCount = set.GetCardinality()
			if v.RecordCount <= api.LedgerShowIDs {
				v.Records = set.ToArray()
			}
		}
		out[i] = v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) ledgerGaps(w http.ResponseWriter, r *http.Request, _ *mayfly.AdminCredential) error {
	q := r.URL.Query()
	from, err := timeParam(q.Get("from"))
	if err != nil {
		return err
	}
	to, err := timeParam(q.Get("to"))
	if err != nil {
		return err
	}
	gs, err := s.cfg.LedgerStore.LedgerGaps(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(gs))
	return nil
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// maxReporters bounds the services the console's overview remembers.
const maxReporters = 1000

// reported remembers, for the console, that service reported now, with
// the revocation its verifier had applied (-1: not said).
func (s *Server) reported(service string, seq int64) {
	s.reportersMu.Lock()
	defer s.reportersMu.Unlock()
	if s.reporters == nil {
		s.reporters = map[string]console.Reporter{}
	}
	r, ok := s.reporters[service]
	if !ok && len(s.reporters) >= maxReporters {
		return
	}
	r.Service, r.LastReport = service, s.cfg.Clock.Now()
	if seq >= 0 {
		r.RevocationSeq = seq
	}
	s.reporters[service] = r
}

// Reporters lists the services that reported to this process, by name.
func (s *Server) Reporters() []console.Reporter {
	s.reportersMu.Lock()
	defer s.reportersMu.Unlock()
	out := make([]console.Reporter, 0, len(s.reporters))
	for _, r := range s.reporters {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b console.Reporter) int { return strings.Compare(a.Service, b.Service) })
	return out
}
