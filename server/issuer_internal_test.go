package server

import "testing"

func TestDefaultIssuer(t *testing.T) {
	tests := []struct {
		addr, listening string
		tls             bool
		want            string
		hostless        bool
	}{
		{"127.0.0.1:8740", "127.0.0.1:8740", false, "http://127.0.0.1:8740", false},
		{"localhost:0", "127.0.0.1:41234", true, "https://localhost:41234", false},
		{":8443", "[::]:8443", true, "https://[::]:8443", true},
		{"0.0.0.0:8443", "0.0.0.0:8443", true, "https://0.0.0.0:8443", true},
		{"auth.example.com:443", "10.0.0.5:443", true, "https://auth.example.com:443", false},
	}
	for _, tt := range tests {
		got := defaultIssuer(tt.addr, tt.listening, tt.tls)
		if got != tt.want {
			t.Errorf("defaultIssuer(%q, %q, %v) = %q; want %q", tt.addr, tt.listening, tt.tls, got, tt.want)
		}
		if h := hostless(got); h != tt.hostless {
			t.Errorf("hostless(%q) = %v; want %v", got, h, tt.hostless)
		}
	}
}
