package ssf

import (
	"net/netip"
	"testing"
)

// TestPublic: what a client's push stream may connect to. Every internal
// address must be refused, including those carried inside IPv6 (NAT64,
// 6to4, IPv4-compatible, IPv4-mapped).
func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "64:ff9b::5db8:d822": true, "2002:5db8:d822::1": true,
		"127.0.0.1": false, "10.0.0.5": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "0.1.2.3": false, "192.0.0.8": false, "192.0.2.1": false, "198.18.0.1": false,
		"198.51.100.7": false, "203.0.113.9": false, "240.0.0.1": false, "255.255.255.255": false, "224.0.0.1": false,
		"::1": false, "::": false, "fe80::1": false, "fc00::1": false, "fd12:3456::1": false, "fec0::1": false, "ff02::1": false,
		"2001:db8::1": false, "100::1": false, "2001::1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::7f00:1": false, "::a00:5": false,
		"64:ff9b::a00:5": false, "64:ff9b::7f00:1": false, "64:ff9b:1::a00:5": false, "64:ff9b:1::5db8:d822": false, "2002:a00:5::1": false, "2002:7f00:1::": false,
	} {
		if got := public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}
