// Package listcol is how both stores keep a list of strings in one column:
// a JSON array, [] when empty, read back as nil when empty, so that a
// stored value compares equal to the one written.
package listcol

import "encoding/json"

// Encode is the stored form of l.
func Encode(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// Decode reads a stored list; an empty one reads as nil.
func Decode(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil || len(l) == 0 {
		return nil, err
	}
	return l, nil
}
