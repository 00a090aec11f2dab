package refresh_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/internal/refresh"
)

// A token names its family and generation, and Parse finds them in every
// token the service issues.
func TestParseIssued(t *testing.T) {
	s, _ := newService(t, nil)
	ctx := context.Background()
	fam, rt, err := s.Begin(ctx, app, subject, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		id, gen, err := refresh.Parse(rt)
		if err != nil || id != fam.ID || gen != want {
			t.Fatalf("Parse(%q) = %q, %d, %v; want %q, %d", rt, id, gen, err, fam.ID, want)
		}
		if _, rt, err = s.Rotate(ctx, app, rt, "", "192.0.2.1", nil); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	family = "rf_0123456789abcdefghijklmnop"
	secret = "vO3cT6m0Q9d8o4eY1k2tqZbV7l_-xw5sJp3hNcRaGfU"
)

func TestParseRefused(t *testing.T) {
	for _, bad := range []string{
		"",
		secret, // before tokens named their family
		family + "." + secret,
		family + ".1",
		family + ".1." + secret + ".",
		family + "..1." + secret,
		family + ".0." + secret,
		family + ".01." + secret,
		family + ".-1." + secret,
		family + ".+1." + secret,
		family + ".1e3." + secret,
		family + ".9223372036854775808." + secret, // past int64
		family + ". 1." + secret,
		family + ".1." + secret[1:],
		family + ".1." + secret + "A",
		family + ".1." + secret[1:] + "=",
		family + ".1." + secret[1:] + "+",
		"rf_0123456789ABCDEFGHIJKLMNOP.1." + secret,
		"rf_0123456789abcdefghijklmnow.1." + secret, // w is not base32hex
		"xx_0123456789abcdefghijklmnop.1." + secret,
		"rf_0123456789abcdefghijklmno.1." + secret,
		family + "p.1." + secret,
		family + ".1.\x00" + secret[1:],
		strings.Repeat("A", 60000),
	} {
		if fam, gen, err := refresh.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %q, %d; want an error", bad, fam, gen)
		}
	}
	if fam, gen, err := refresh.Parse(family + ".9223372036854775807." + secret); err != nil || fam != family || gen != 1<<63-1 {
		t.Errorf("the largest generation: %q, %d, %v", fam, gen, err)
	}
}

// FuzzParse: whatever Parse accepts is one family and generation written
// back in their one form.
func FuzzParse(f *testing.F) {
	f.Add(family + ".1." + secret)
	f.Add(family + ".12." + secret)
	f.Add(family + ".01." + secret)
	f.Add(secret)
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		fam, gen, err := refresh.Parse(raw)
		if err != nil {
			return
		}
		if gen < 1 {
			t.Fatalf("Parse(%q): generation %d", raw, gen)
		}
		prefix := fam + "." + strconv.FormatInt(gen, 10) + "."
		if !strings.HasPrefix(raw, prefix) || len(raw) != len(prefix)+43 || strings.Contains(raw[len(prefix):], ".") {
			t.Fatalf("Parse(%q) = %q, %d: not the token's one form", raw, fam, gen)
		}
	})
}
