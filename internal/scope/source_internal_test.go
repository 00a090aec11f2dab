package scope

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSourceDim(t *testing.T) {
	for _, tt := range []struct {
		prefixes []string
		values   []string // nil: matched, not listed
		ok       bool
	}{
		{[]string{"203.0.113.9/24"}, []string{"203.0.113.0/24"}, true},
		{[]string{"10.0.254.0/23", "10.0.254.0/24"}, []string{"10.0.254.0/24", "10.0.255.0/24"}, true},
		{[]string{"10.0.255.0/24", "10.1.0.0/24"}, []string{"10.0.255.0/24", "10.1.0.0/24"}, true},
		{[]string{"2001:db8::/47"}, []string{"2001:db8:1::/48", "2001:db8::/48"}, true}, // sorted as text
		{[]string{"10.0.0.0/8"}, nil, true},
		{[]string{"10.0.0.0/24", "203.0.113.0/28"}, nil, false},
		{[]string{"2001:db8::/64"}, nil, false},
	} {
		var ps []netip.Prefix
		for _, p := range tt.prefixes {
			ps = append(ps, netip.MustParsePrefix(p))
		}
		d, ok := sourceDim(ps)
		if ok != tt.ok || !slices.Equal(d.values, tt.values) || ok && (d.values == nil) != (d.match != nil) {
			t.Errorf("sourceDim(%v) = %v (match %v), %v; want %v, %v", tt.prefixes, d.values, d.match != nil, ok, tt.values, tt.ok)
		}
	}
	if got := nextNet(netip.MustParseAddr("10.0.255.0"), 24); got != netip.MustParseAddr("10.1.0.0") {
		t.Errorf("nextNet(10.0.255.0, 24) = %v", got)
	}
	if got := nextNet(netip.MustParseAddr("2001:db8:ffff::"), 48); got != netip.MustParseAddr("2001:db9::") {
		t.Errorf("nextNet(2001:db8:ffff::, 48) = %v", got)
	}
}
