package detect

import (
	"fmt"
	"testing"
	"time"
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
