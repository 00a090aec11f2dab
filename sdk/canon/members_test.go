package canon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// reference is members as the obvious walk with json.Decoder.Token writes
// it, which members replaced for speed: FuzzMembers holds the two to the
// same answers.
func reference(doc []byte, header bool) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		names  []string // nil for an array
		object bool
		isName bool
	}
	var stack []*frame
	for done := false; ; {
		tok, err := dec.Token()
		switch {
		case err == io.EOF && done:
			return true
		case err != nil, done:
			return false
		case len(stack) == 0 && tok != json.Delim('{'):
			return false
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if s, ok := tok.(string); ok && top.object && top.isName {
				if slices.ContainsFunc(top.names, func(n string) bool { return strings.EqualFold(n, s) }) ||
					(header && len(stack) == 1 && (s == "crit" || s == "b64")) {
					return false
				}
				top.names, top.isName = append(top.names, s), false
				continue
			}
			top.isName = top.object
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, isName: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done = len(stack) == 0
		}
	}
}

var memberSeeds = []string{
	`{}`, ` {"a":1} `, `{"a":1,"A":2}`, `{"a":{"a":1},"b":[{"a":1,"a":2}]}`,
	`{"client_id":1,"client_ıd":2}`, `{"scope":1,"ſcope":2}`, `{"kid":1,"\u212aid":2}`, `{"ß":1,"ẞ":2}`, `{"ǅ":1,"ǆ":2,"Ǆ":3}`,
	`{"σ":1,"ς":2}`, `{"θ":1,"ϑ":2}`,
	`{"\u0063rit":[]}`, `{"crit":null}`, `{"x":{"crit":1,"b64":2}}`, `{"b64":true}`,
	`{"\"":1,"\\":2,"\"":3}`, `{"a\"b":1,"A\"B":2}`, "{\"\xff\":1,\"\xfe\":2}", `{"\ud800":1,"\udbff":2}`,
	`[{"a":1}]`, `"a"`, `null`, `{"a":1}{}`, `{"a":1} x`, `{"a":`, `{"a":1,}`, `{"a" 1}`,
	`{"a":[1,2,{"b":"}","B":"{"}]}`, `{"n":1e99999,"m":-0.5E-3,"t":true,"f":false,"z":null}`,
	strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
	`{` + strings.Repeat(`"a":1,`, 40) + `"b":2}`,
	`{` + bigObject(`"z":1`) + `}`, `{` + bigObject(`"K7":1`) + `}`, `{` + bigObject(`"\u212a1":1`) + `}`,
	`{` + bigObject(`"ſ":1,"S":2`) + `}`, `{` + bigObject(`"ı":1,"i":2`) + `}`,
	`{"k00":0,"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,` +
		`"k16":16,"k17":17,"k18":18,"k19":19,"k20":20,"k21":21,"k22":22,"k23":23,"k24":24,"k25":25,"k26":26,"k27":27,"k28":28,"k29":29,"k30":30,"k31":31,"k32":32,"K07":33}`,
}

// bigObject is 40 members, then last: an object that distinct checks
// through its map of folded names.
func bigObject(last string) string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	return b.String() + last
}

func TestMembersAgainstReference(t *testing.T) {
	for _, s := range memberSeeds {
		for _, header := range []bool{false, true} {
			got, want := members([]byte(s), header) == nil, reference([]byte(s), header)
			if got != want {
				t.Errorf("members(%q, header %v) accepts: %v; the reference: %v", s, header, got, want)
			}
		}
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range memberSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, doc []byte, header bool) {
		if len(doc) > 8<<10 {
			return // tokens are smaller, and json.Valid, unlike the reference, bounds nesting
		}
		err := members(doc, header)
		if got, want := err == nil, reference(doc, header); got != want {
			t.Fatalf("members(%q, header %v): %v; the reference accepts: %v", doc, header, err, want)
		}
	})
}
