package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
)

// TestLogErrorClientGone: an internal error is logged at error level,
// unless it is the wait of a request whose client hung up.
func TestLogErrorClientGone(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{cfg: Config{Log: slog.New(slog.NewTextHandler(&buf, nil))}}
	live := httptest.NewRequest("POST", "/oauth2/token", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	for _, tt := range []struct {
		name  string
		r     *http.Request
		err   error
		error bool
	}{
		{"internal", live, mayfly.E("token.Issue", errors.New("disk on fire")), true},
		{"canceled, client here", live, mayfly.E("token.Issue", context.Canceled), true},
		{"canceled, client gone", gone, mayfly.E("token.Issue", context.Canceled), false},
		{"other, client gone", gone, mayfly.E("token.Issue", errors.New("disk on fire")), true},
	} {
		buf.Reset()
		s.logError(tt.r, tt.err)
		if got := strings.Contains(buf.String(), "level=ERROR"); got != tt.error {
			t.Errorf("%s: logged %q; want error level %v", tt.name, buf.String(), tt.error)
		}
	}
}
