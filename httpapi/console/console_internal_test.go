package console

import (
	"net/http/httptest"
	"net/url"
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
