package mayfly

import (
	"encoding/json"
	"time"
)

// JSON carries durations as Go duration strings ("5m0s"), which people can
// read and write, instead of nanosecond counts.

type clientJSON Client

func (c Client) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		clientJSON
		TokenTTL string `json:"token_ttl"`
	}{clientJSON(c), c.TokenTTL.String()})
}

func (c *Client) UnmarshalJSON(b []byte) error {
	var v struct {
		*clientJSON
		TokenTTL string `json:"token_ttl"`
	}
	v.clientJSON = (*clientJSON)(c)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	return parseDuration(v.TokenTTL, &c.TokenTTL)
}

type ringJSON Ring

func (r Ring) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ringJSON
		Lifetime string `json:"lifetime"`
	}{ringJSON(r), r.Lifetime.String()})
}

func (r *Ring) UnmarshalJSON(b []byte) error {
	var v struct {
		*ringJSON
		Lifetime string `json:"lifetime"`
	}
	v.ringJSON = (*ringJSON)(r)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	return parseDuration(v.Lifetime, &r.Lifetime)
}

func parseDuration(s string, d *time.Duration) error {
	if s == "" {
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
