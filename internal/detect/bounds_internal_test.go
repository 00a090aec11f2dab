package detect

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// TestSeenBounded: one address presenting tokens of a thousand clients
// keeps at most the limit and one, however many it presents.
func TestSeenBounded(t *testing.T) {
	m := map[string]time.Time{}
	at := time.Unix(1900000000, 0)
	for i := range 1000 {
		n := seen(m, fmt.Sprint(i), at, time.Minute, 20)
		if i >= 21 && n <= 20 {
			t.Fatalf("client %d: counted %d; want more than the limit", i, n)
		}
	}
	if len(m) > 21 {
		t.Errorf("kept %d clients; want at most 21", len(m))
	}
	// Once they are out of the window, room is made again.
	if n := seen(m, "late", at.Add(2*time.Minute), time.Minute, 20); n != 1 || len(m) != 1 {
		t.Errorf("after the window: counted %d, kept %d; want 1 and 1", n, len(m))
	}
}

// many raises one alert per signal.
type many struct{}

func (many) Raise(_ mayfly.Tx, sigs []mayfly.AlertSignal) ([]*mayfly.Alert, error) {
	out := make([]*mayfly.Alert, len(sigs))
	for i := range out {
		out[i] = &mayfly.Alert{}
	}
	return out, nil
}

func (many) Contained(context.Context, string, string) error { return nil }

// TestFiredBounded: a flood of subjects firing within repeatEvery, such as
// forged tokens each naming another kid, keeps at most maxFired of them.
func TestFiredBounded(t *testing.T) {
	e := &Engine{deps: Deps{Raiser: many{}}, fired: map[string]time.Time{}}
	now := time.Unix(1900000000, 0)
	sigs := make([]signal, 1000)
	for i := range maxFired/len(sigs) + 2 {
		for j := range sigs {
			sigs[j] = signal{AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleForgedToken, Subject: fmt.Sprintf("kid:%d-%d", i, j)}}
		}
		if err := e.raise(nil, sigs, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.fired) > maxFired {
		t.Errorf("kept %d firings; want at most %d", len(e.fired), maxFired)
	}
}
