package console_test

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// The console in a real headless Chromium (Debian's chromium package),
// driven over the DevTools protocol. Without Chromium the tests skip,
// saying so; with CI=true they fail instead.

var screenshots = flag.Bool("screenshots", false, "write the console's screenshots under docs/console")

//go:embed testdata/axe.min.js
var axeSource string

// chromiumPath is the browser's path, or "".
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chromium returns the browser's path, or skips or fails the test.
func chromium(t *testing.T) string {
	if p := chromiumPath(); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and no Chromium: install Debian's chromium package (.ci/run does)")
	}
	t.Skip("BROWSER TESTS SKIPPED: no chromium on PATH (apt-get install chromium)")
	return ""
}

// browser is one headless Chromium tab, at a width and height.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T, width, height int) *browser {
	return &browser{t: t, ctx: newBrowserAt(t, chromium(t), width, height)}
}

// newBrowserAt starts the Chromium at path, headless, and returns its tab.
func newBrowserAt(t testing.TB, path string, width, height int) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(width, height), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs actions, bounded in time; on failure it saves a screenshot
// and fails the test, naming the step.
func (b *browser) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (screenshot: %s)", step, err, b.screenshot(step))
	}
}

// get runs one action that returns a value, as run does.
func get[T any](b *browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v (screenshot: %s)", step, err, b.screenshot(step))
	}
	return v
}

// screenshot saves the page, for a failed step, and says where.
func (b *browser) screenshot(step string) string {
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "none: " + err.Error()
	}
	dir := filepath.Join(os.TempDir(), "mayfly-console-failures")
	os.MkdirAll(dir, 0o755)
	name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()+"-"+step)+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		return "none: " + err.Error()
	}
	return name
}

// axe runs axe-core on the page and fails on serious or critical
// violations.
func (b *browser) axe(page string) {
	b.t.Helper()
	var out []violation
	get(b, "axe "+page, chromedp.Evaluate[any](axeSource))
	out = get(b, "axe "+page, chromedp.Evaluate[[]violation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.filter(v => v.impact === "serious" || v.impact === "critical"))`,
		chromedp.EvalAwaitPromise))
	for _, v := range out {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target...))
		}
		b.t.Errorf("accessibility on %s: %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
	}
}

// waitText waits for sel's text to be want, across the page's reloads.
func (b *browser) waitText(step, sel, want string) {
	b.t.Helper()
	var got string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		got, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if got == want {
			return
		}
	}
	b.t.Fatalf("%s: %s says %q; want %q (screenshot: %s)", step, sel, got, want, b.screenshot(step))
}

// violation is what axe-core reports of one rule.
type violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// TestConsoleInBrowser walks what the people who run and investigate with
// Mayfly do: sign in, create a person and a client, read a key's age,
// offboard the person and watch the report complete, see an alert raised
// through the ledger API appear without a reload, acknowledge it, sign out
// and be refused. axe-core checks every page on the way.
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t, 1366, 900)
	e := servertest.New(t)
	e.Clock.Advance(3 * time.Hour) // the default ring's key has an age
	base := e.URL + "/console"

	b.run("login", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.axe("login")
	b.run("login", chromedp.SendKeys(chromedp.CSS("#token"), e.Token), chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#h-keys")))
	b.axe("overview")

	// The default ring's key, three hours into its life.
	width := get(b, "age bar", chromedp.AttributeValue(chromedp.CSS(`tr.keyrow[data-ring="default"] svg.bar rect.age`), "width")).Value
	if w, err := strconv.ParseFloat(width, 64); err != nil || w <= 0 {
		t.Errorf("the default ring's age bar is %q wide; want more than 0", width)
	}

	b.run("create person", chromedp.Navigate(base+"/people"), chromedp.WaitVisible(chromedp.CSS("#new-name")))
	b.axe("people")
	b.run("create person", chromedp.SendKeys(chromedp.CSS("#new-name"), "carol"), chromedp.Click(chromedp.CSS("#create-principal")),
		chromedp.WaitVisible(chromedp.CSS("#person")))
	if got := b.text("#person"); !strings.Contains(got, "carol") {
		t.Fatalf("after creating carol the page shows %q", got)
	}
	b.run("create client", chromedp.SendKeys(chromedp.CSS("#client-name"), "carol-ci"), chromedp.Click(chromedp.CSS("#create-client")),
		chromedp.WaitVisible(chromedp.CSS("#new-client-secret")))
	secret := b.text("#new-client-secret")
	personURL := strings.TrimSuffix(get(b, "person page", chromedp.Location()), "/clients")
	b.axe("person")
	b.run("person page again", chromedp.Navigate(personURL), chromedp.WaitVisible(chromedp.CSS("#clients")))
	html := get(b, "person page again", chromedp.OuterHTML(chromedp.CSS("html")))
	if secret == "" || strings.Contains(html, secret) || !strings.Contains(html, "carol-ci") {
		t.Errorf("the person page after the client was made: lists carol-ci %v, shows its secret %v", strings.Contains(html, "carol-ci"), strings.Contains(html, secret))
	}

	// Offboard: the preview names the client, then the report completes.
	b.run("offboard preview", chromedp.Click(chromedp.CSS("#offboard")), chromedp.WaitVisible(chromedp.CSS("#preview")))
	if got := b.text("#preview"); !strings.Contains(got, "carol-ci") {
		t.Errorf("the offboarding preview: %q; want it to name carol-ci", got)
	}
	b.axe("offboard preview")
	b.run("offboard", chromedp.Click(chromedp.CSS("#confirm")))
	b.waitText("offboard", "#run-state", "Offboarding complete.")
	if got := b.text("#report"); !strings.Contains(got, "client.revoked") {
		t.Errorf("the offboarding report: %q; want the client revoked", got)
	}
	b.axe("offboarding report")

	for _, p := range []string{"/rings", "/rings/default", "/rings/default/rotate", "/tokens", "/audit"} {
		b.run(p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.axe(p)
	}

	// An alert raised through the ledger API appears without a reload.
	b.run("alerts", chromedp.Navigate(base+"/alerts"), chromedp.WaitVisible(chromedp.CSS(`#live[data-state="live"]`)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.notReloaded = true`)(ctx, t)
			return err
		}))
	b.axe("alerts")
	svc, err := e.Admin.CreatePrincipal(t.Context(), api.PrincipalRequest{Name: "orders", Kind: mayfly.Service, Owner: e.Human("alice")})
	if err != nil {
		t.Fatal(err)
	}
	c, csecret := e.NewClient(api.ClientRequest{Name: "orders-client", Owner: svc.ID})
	forgedTok := e.Steal("default").Forge(c.ID, "", "api")
	body := fmt.Sprintf(`{"time":%q,"service":"orders","source_ip":"10.1.2.3","method":"GET","route":"/customers","records":{"customer":[17]},"token":%q}`+"\n",
		e.Clock.Now().Format(time.RFC3339), forgedTok)
	req, _ := http.NewRequest("POST", e.URL+api.LedgerEventsPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.SetBasicAuth(c.ID, csecret)
	if r := e.Do(req); r.Status != http.StatusOK {
		t.Fatalf("posting the report: %d %s", r.Status, r.Body)
	}
	// The forged-token rule looks for the issuance record again once its
	// grace has passed by the server's clock, which moves here.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				e.Clock.Advance(50 * time.Millisecond)
			}
		}
	}()
	b.run("alert appears", chromedp.WaitVisible(chromedp.CSS(`li.alert[data-rule="forged-token"]`)))
	same := get(b, "no reload", chromedp.Evaluate[bool](`window.notReloaded === true`))
	if !same {
		t.Errorf("the page reloaded to show the alert")
	}
	b.axe("alerts with one")
	b.run("acknowledge", chromedp.SendKeys(chromedp.CSS(`li.alert[data-rule="forged-token"] input[name="note"]`), "looking into it"),
		chromedp.Click(chromedp.CSS(`li.alert[data-rule="forged-token"] button.ack`)),
		chromedp.WaitVisible(chromedp.CSS(`li.alert.state-acknowledged[data-rule="forged-token"]`)))
	list, err := e.Admin.Alerts(t.Context(), mayfly.AlertFilter{Rule: mayfly.RuleForgedToken})
	if err != nil || len(list) != 1 || list[0].State != mayfly.AlertAcknowledged || list[0].Note != "looking into it" {
		t.Errorf("after acknowledging in the console: %v %+v", err, list)
	}

	// Signed out, the console is closed to this browser.
	b.run("logout", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.Navigate(base+"/people"), chromedp.WaitVisible(chromedp.CSS("#token")))
	status := get(b, "refused", chromedp.Evaluate[int](`fetch("/console/people", {method: "POST", body: new URLSearchParams({name: "mallory"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if status != http.StatusUnauthorized {
		t.Errorf("a post after signing out: %d; want 401", status)
	}
}

// TestConsoleScreenshots writes docs/console's screenshots, with
// -screenshots, at a laptop's width and a phone's.
func TestConsoleScreenshots(t *testing.T) {
	if !*screenshots {
		t.Skip("run with -screenshots to write docs/console")
	}
	f := newFixture(t)
	ctx := t.Context()
	// A little history: a second ring with a rotation behind it, custody,
	// a service of dana's, and a client whose secret she was shown.
	if _, err := f.e.Admin.CreateRing(ctx, api.RingRequest{Name: "payments", Lifetime: "6h"}); err != nil {
		t.Fatal(err)
	}
	f.e.Clock.Advance(5 * time.Hour)
	if _, err := f.e.Admin.Rotate(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	for _, req := range []api.CustodyRequest{{Principal: f.person, Ring: "payments", Reason: "runs payments"}, {Principal: f.person, RootKey: true, Kind: mayfly.CustodyOperator, Reason: "operator"}} {
		if _, err := f.e.Admin.GrantCustody(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := f.e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "dana-batch", Kind: mayfly.Service, Owner: f.person})
	if err != nil {
		t.Fatal(err)
	}
	f.e.NewClient(api.ClientRequest{Name: "batch-runner", Owner: svc.ID})
	f.e.Clock.Advance(2 * time.Hour)
	for _, size := range []struct {
		name   string
		w, h   int
		mobile bool
	}{{"laptop", 1366, 850, false}, {"phone", 390, 844, true}} {
		b := newBrowser(t, size.w, size.h)
		base := f.e.URL + "/console"
		b.run("login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
		shoot(t, b, "login-"+size.name)
		b.run("login", chromedp.SendKeys(chromedp.CSS("#token"), f.e.Token), chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#h-keys")))
		for _, p := range []struct{ name, path string }{{"overview", "/"}, {"rings", "/rings"}, {"ring", "/rings/default"},
			{"people", "/people"}, {"person", "/people/" + f.person}, {"offboard", "/people/" + f.person + "/offboard"},
			{"tokens", "/tokens"}, {"audit", "/audit"}, {"alerts", "/alerts"}} {
			b.run(p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			shoot(t, b, p.name+"-"+size.name)
		}
	}
}

func shoot(t *testing.T, b *browser, name string) {
	png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "console", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
