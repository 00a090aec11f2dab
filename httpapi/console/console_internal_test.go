package console

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

func TestShownKey(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	key := func(kid string, created time.Time, activate, deactivate time.Duration, revoked bool) *mayfly.Key {
		k := &mayfly.Key{KID: kid, CreatedAt: created, ActivateAt: now.Add(activate), DeactivateAt: now.Add(deactivate), RetireAt: now.Add(deactivate + time.Hour)}
		if revoked {
			k.RevokedAt = now.Add(-time.Minute)
		}
		return k
	}
	next := key("next", now, time.Hour, 2*time.Hour, false)
	active := key("active", now.Add(-time.Hour), -time.Hour, time.Hour, false)
	revoked := key("revoked", now.Add(time.Minute), -time.Hour, time.Hour, true)
	for _, c := range []struct {
		name string
		ks   []*mayfly.Key
		want *mayfly.Key
	}{
		{"none", nil, nil},
		{"only next", []*mayfly.Key{next}, next},
		{"next before active", []*mayfly.Key{next, active}, active},
		{"only revoked", []*mayfly.Key{revoked}, nil},
		{"revoked newest", []*mayfly.Key{next, revoked}, next},
	} {
		if got := shownKey(c.ks, now); got != c.want {
			t.Errorf("%s: %v; want %v", c.name, got, c.want)
		}
	}
}

// safeBack never sends the browser anywhere but a console page here.
func checkBack(t *testing.T, in string) {
	out := safeBack(in)
	u, err := url.Parse(out)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(out, Path) || strings.HasPrefix(out, "//") {
		t.Fatalf("safeBack(%q) = %q", in, out)
	}
	// What a browser makes of it, relative to a console page.
	base, _ := url.Parse("https://mayfly.example/console/people")
	if got := base.ResolveReference(u); got.Host != "mayfly.example" || !strings.HasPrefix(got.Path, Path) {
		t.Fatalf("safeBack(%q) = %q, which leads to %s", in, out, got)
	}
}

func TestSafeBack(t *testing.T) {
	for _, in := range []string{"/console/people?q=a", "//evil.example/console/", "https://evil.example/console/", "/console/../../evil",
		"/console\\@evil", "/\\evil.example", "javascript:alert(1)", "/console/%2e%2e/x", "", "/console"} {
		checkBack(t, in)
	}
	if got := safeBack("/console/people?q=a"); got != "/console/people?q=a" {
		t.Errorf("a console page: %q", got)
	}
}

func FuzzSafeBack(f *testing.F) {
	for _, s := range []string{"/console/", "//evil", "/console/../x", "https://x/console/", "/console/a?b=c#d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { checkBack(t, in) })
}

// The language comes from a cookie or Accept-Language, never from
// anything but the message files.
func FuzzLang(f *testing.F) {
	h, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"ko-KR,ko;q=0.9,en;q=0.8", "en", "", "*", "ko;q=x,,", "zz-ZZ"} {
		f.Add(s, "ko")
	}
	f.Fuzz(func(t *testing.T, accept, cookie string) {
		r := httptest.NewRequest("GET", "/console/", nil)
		r.Header.Set("Accept-Language", accept)
		if strings.IndexFunc(cookie, func(c rune) bool { return c < 0x21 || c > 0x7e || c == ';' || c == '"' || c == ',' || c == '\\' }) < 0 && cookie != "" {
			r.Header.Set("Cookie", "lang="+cookie)
		}
		m := h.lang(r)
		if l := m.Get("lang"); l != "en" && l != "ko" {
			t.Fatalf("Accept-Language %q, cookie %q: language %q", accept, cookie, l)
		}
	})
}

// Every label has its Korean; a missing one would show in English.
func TestMessagesComplete(t *testing.T) {
	read := func(l string) messages {
		b, err := files.ReadFile("messages/" + l + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m messages
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en, ko := read("en"), read("ko")
	for k := range en {
		if _, ok := ko[k]; !ok {
			t.Errorf("messages/ko.json lacks %q", k)
		}
	}
	for k := range ko {
		if _, ok := en[k]; !ok {
			t.Errorf("messages/ko.json has %q, which English does not", k)
		}
	}
	// Every label a template asks for is in the English file.
	entries, _ := files.ReadDir("templates")
	for _, e := range entries {
		b, _ := files.ReadFile("templates/" + e.Name())
		for _, m := range labelRef.FindAllStringSubmatch(string(b), -1) {
			if _, ok := en[m[1]]; !ok {
				t.Errorf("templates/%s asks for %q, which messages/en.json lacks", e.Name(), m[1])
			}
		}
	}
}

var labelRef = regexp.MustCompile(`\.T\.Get "([a-z_]+)"`)

// Behind https the cookie is Secure and bound to the host by its name.
func TestSessionCookie(t *testing.T) {
	for _, c := range []struct{ tls, https, secure bool }{{false, false, false}, {true, false, true}, {false, true, true}} {
		ss := newSessions(fixedClock{}, time.Minute, time.Hour, c.https)
		tls := c.secure
		r := httptest.NewRequest("POST", "/console/login", nil)
		if c.tls {
			r.TLS = &tls0
		}
		w := httptest.NewRecorder()
		ss.start(w, r, &mayfly.AdminCredential{ID: "adm_1", Role: mayfly.RoleAdmin}, []byte("hash"))
		c0 := c
		c := w.Result().Cookies()[0]
		if c.Secure != tls || c.HttpOnly != true || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || (tls && c.Name != secureCookieName) {
			t.Errorf("%+v: cookie %+v", c0, c)
		}
		r2 := httptest.NewRequest("GET", "/console/", nil)
		r2.TLS = r.TLS
		r2.AddCookie(c)
		if ss.get(r2) == nil {
			t.Errorf("https %v: the cookie finds no session", tls)
		}
	}
}

var tls0 tls.ConnectionState

type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
