package mayfly_test

import (
	"crypto/rand"
	"github.com/mayflyhq/mayfly"
	"testing"
	"time"
)

func TestJTITime(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 4, 5, 678_900_000, time.UTC)
	jti, err := mayfly.NewJTI(at, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := mayfly.JTITime(jti)
	if want := at.Truncate(time.Millisecond); !ok || !got.Equal(want) {
		t.Fatalf("JTITime(%q) = %v, %v; want %v", jti, got, ok, want)
	}
	for _, bad := range []string{"", "short", "!!!!!!!!!!!!!!!!!!!!!!!!!!", jti + "x"} {
		if _, ok := mayfly.JTITime(bad); ok {
			t.Errorf("JTITime(%q) ok; want not", bad)
		}
	}
}
