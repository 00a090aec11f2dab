package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

func TestMembersRoundTrip(t *testing.T) {
	u := &mayfly.LedgerUnion{Day: time.Date(2031, 1, 2, 0, 0, 0, 0, time.UTC), Namespace: "customer"}
	in := []*mayfly.LedgerBucket{
		{Token: mayfly.LedgerToken{JTI: "j1", Digest: "d1", KID: "k", ClientID: "c", PrincipalID: "p", Subject: "customer:1"},
			Requests: 1 << 40, Refusals: 3, Services: []string{"api", "billing"}, ServicesMore: true, Sources: []string{"10.0.0.1"}},
		{Token: mayfly.LedgerToken{Digest: "credential:x"}},
	}
	out, err := decodeMembers(encodeMembers(in), u)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		want := *in[i]
		want.Start, want.Width, want.Namespace = u.Day, mayfly.LedgerDay, u.Namespace
		if got := fmt.Sprintf("%+v", out[i]); got != fmt.Sprintf("%+v", want) {
			t.Errorf("bucket %d:\n got %s\nwant %+v", i, got, want)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0}, {1, 200}, append(encodeMembers(in), 0)} {
		if _, err := decodeMembers(bad, u); err == nil {
			t.Errorf("decodeMembers(%x) succeeded", bad)
		}
	}
}

// FuzzDecodeMembers: a stored bucket list that does not decode is an
// error, never a panic, and one that does encodes to a list that decodes
// to the same buckets.
func FuzzDecodeMembers(f *testing.F) {
	f.Add(encodeMembers(nil))
	f.Add(encodeMembers([]*mayfly.LedgerBucket{{Token: mayfly.LedgerToken{JTI: "j", KID: "k"}, Requests: 2, Sources: []string{"::1"}, SourcesMore: true}}))
	u := &mayfly.LedgerUnion{Namespace: "customer"}
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := decodeMembers(b, u)
		if err != nil {
			return
		}
		ps := make([]*mayfly.LedgerBucket, len(bs))
		for i := range bs {
			ps[i] = &bs[i]
		}
		back, err := decodeMembers(encodeMembers(ps), u)
		if err != nil {
			t.Fatalf("a decoded list does not decode once encoded again: %v", err)
		}
		if fmt.Sprintf("%+v", back) != fmt.Sprintf("%+v", bs) {
			t.Fatalf("round trip changed the list:\n%+v\n%+v", bs, back)
		}
	})
}
