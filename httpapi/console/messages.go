package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// messages are a language's labels, from messages/<lang>.json.
type messages map[string]string

// Get returns the label for key, else the key itself: a missing label
// shows, and a test finds it.
func (m messages) Get(key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	return key
}

// languages are the message files, English first: the fallback.
var languages = []string{"en", "ko"}

func loadMessages() (map[string]messages, error) {
	out := map[string]messages{}
	for _, l := range languages {
		b, err := files.ReadFile(path.Join("messages", l+".json"))
		if err != nil {
			return nil, err
		}
		var m messages
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("console messages %s: %w", l, err)
		}
		out[l] = m
	}
	for k, v := range out["en"] { // a label missing in a language is English
		for _, l := range languages[1:] {
			if _, ok := out[l][k]; !ok {
				out[l][k] = v
			}
		}
	}
	return out, nil
}

// lang picks the messages for r: the lang cookie, else Accept-Language.
func (h *Handler) lang(r *http.Request) messages {
	if c, err := r.Cookie("lang"); err == nil {
		if m, ok := h.msgs[c.Value]; ok {
			return m
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if m, ok := h.msgs[base]; ok {
			return m
		}
	}
	return h.msgs["en"]
}
