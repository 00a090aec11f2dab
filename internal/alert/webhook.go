package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// Webhooks follow the Standard Webhooks specification: each message has
// a webhook-id (the same on every retry, so a receiver can drop
// duplicates), a webhook-timestamp (Unix seconds) and a webhook-signature
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the secret, given
// as whsec_<base64>.

// Webhook is an endpoint that receives every alert change.
type Webhook struct {
	URL    string
	Secret []byte // the key, decoded from whsec_...
	// Attempts bounds the tries of one message, and Backoff is the wait
	// after the first failure, doubled after each one after it (at most
	// MaxBackoff); zero values mean 8 and 1 s.
	Attempts int
	Backoff  time.Duration
	Client   *http.Client // nil means one with a 10 s timeout
}

// MaxBackoff bounds the wait between attempts.
const MaxBackoff = 5 * time.Minute

// queueSize bounds the messages waiting for one endpoint; beyond it new
// ones are dropped, and counted.
const queueSize = 10000

// ParseSecret reads a whsec_ secret: at least 24 bytes, base64.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, mayfly.Errorf(mayfly.Invalid, "a webhook secret starts with whsec_ followed by base64")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, mayfly.Errorf(mayfly.Invalid, "the webhook secret after whsec_ is not base64")
	}
	if len(key) < 24 {
		return nil, mayfly.Errorf(mayfly.Invalid, "the webhook secret holds %d bytes; it needs at least 24", len(key))
	}
	return key, nil
}

// CheckURL refuses a webhook URL that is not absolute http or https.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return mayfly.Errorf(mayfly.Invalid, "webhook URL %q is not an http:// or https:// URL", raw)
	}
	return nil
}

// Sign returns the webhook-signature value of a message.
func Sign(secret []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type message struct {
	id   string
	ts   int64
	body []byte
}

// deliverer sends one endpoint its messages in order, retrying each.
type deliverer struct {
	s     *Service
	hook  Webhook
	queue chan message
}

func newDeliverer(s *Service, w Webhook) *deliverer {
	if w.Attempts <= 0 {
		w.Attempts = 8
	}
	if w.Backoff <= 0 {
		w.Backoff = time.Second
	}
	if w.Client == nil {
		w.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &deliverer{s: s, hook: w, queue: make(chan message, queueSize)}
}

func (d *deliverer) enqueue(e event) {
	now := d.s.cfg.Clock.Now().UTC()
	body, err := json.Marshal(api.AlertEvent{Type: e.typ, Timestamp: now, Data: e.alert})
	if err != nil {
		d.s.cfg.Log.Error("encoding an alert webhook failed", "alert", e.alert.ID, "err", err)
		return
	}
	// The change's Seq names it in every process: one id per change.
	m := message{id: "msg_" + e.alert.ID + "_" + strconv.FormatInt(e.alert.Seq, 10), ts: now.Unix(), body: body}
	select {
	case d.queue <- m:
	default:
		d.s.dropped.Add(1)
		d.s.cfg.Log.Warn("alert webhook queue is full; message dropped", "url", redactURL(d.hook.URL), "id", m.id)
	}
}

func (d *deliverer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-d.queue:
			d.deliver(ctx, m)
		}
	}
}

// deliver tries m until it is accepted (2xx), its attempts are spent or
// ctx ends.
func (d *deliverer) deliver(ctx context.Context, m message) {
	wait := d.hook.Backoff
	for attempt := 1; ; attempt++ {
		err := d.send(ctx, m)
		if err == nil {
			return
		}
		d.s.failures.Add(1)
		if attempt >= d.hook.Attempts {
			d.s.dropped.Add(1)
			d.s.cfg.Log.Error("alert webhook not delivered; giving up", "url", redactURL(d.hook.URL), "id", m.id, "attempts", attempt, "err", err)
			return
		}
		d.s.cfg.Log.Warn("alert webhook delivery failed; retrying", "url", redactURL(d.hook.URL), "id", m.id, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, MaxBackoff)
	}
}

func (d *deliverer) send(ctx context.Context, m message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.hook.URL, bytes.NewReader(m.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(m.ts, 10))
	req.Header.Set("webhook-signature", Sign(d.hook.Secret, m.id, m.ts, m.body))
	res, err := d.hook.Client.Do(req)
	if ue, ok := err.(*url.Error); ok {
		return ue.Err // without the URL, which may hold a credential
	} else if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %s", res.Status)
	}
	return nil
}

// redactURL keeps a URL's credentials and query, which may hold a token,
// out of logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a webhook URL that does not parse)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}
