package ssf

import (
	"encoding/json"
	"testing"
)

// FuzzSubject feeds receiver-supplied subjects (add and remove subject
// requests) to the validator: it must never panic, and what it accepts
// must have one canonical form however its members are ordered.
func FuzzSubject(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzSubject.
	f.Fuzz(func(t *testing.T, data []byte) {
		var sub map[string]any
		if json.Unmarshal(data, &sub) != nil || sub == nil {
			return
		}
		if checkSubject(sub) != nil {
			return
		}
		if _, ok := sub["format"].(string); !ok {
			t.Fatalf("accepted a subject without a string format: %s", data)
		}
		var again map[string]any
		if err := json.Unmarshal([]byte(canonical(sub)), &again); err != nil {
			t.Fatalf("canonical form is not JSON: %v", err)
		}
		if canonical(again) != canonical(sub) {
			t.Fatalf("canonical form is not stable: %s", data)
		}
	})
}

func TestCheckSubject(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"format":"email","email":"a@example.com"}`:                                           true,
		`{"format":"iss_sub","iss":"https://idp.example","sub":"123"}`:                         true,
		`{"format":"complex","user":{"format":"opaque","id":"u1"}}`:                            true,
		`{"format":"complex","user":{"format":"complex","user":{"format":"opaque","id":"x"}}}`: false,
		`{"format":"opaque","id":""}`:                                                          false,
		`{"format":"opaque","id":7}`:                                                           false,
		`{"format":"opaque","id":"x","extra":"y"}`:                                             false,
		`{"format":"complex"}`:                                                                 false,
		`{"format":"complex","user":"u1"}`:                                                     false,
		`{"format":"x509"}`:                                                                    false,
		`{}`:                                                                                   false,
	} {
		var sub map[string]any
		if err := json.Unmarshal([]byte(in), &sub); err != nil {
			t.Fatal(err)
		}
		if err := checkSubject(sub); (err == nil) != ok {
			t.Errorf("checkSubject(%s) = %v, want ok=%v", in, err, ok)
		}
	}
}
