package api

import (
	"encoding/json"

	"github.com/mayflyhq/mayfly"
)

// Client and Ring marshal themselves, and an embedded marshaler would take
// over the whole view. These methods keep the views flat: the embedded
// object's fields and the view's own, side by side.

func merge(a, b any) ([]byte, error) {
	ab, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	bb, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if len(bb) <= 2 {
		return ab, nil
	}
	return append(append(ab[:len(ab)-1:len(ab)-1], ','), bb[1:]...), nil
}

func (c CreatedClient) MarshalJSON() ([]byte, error) {
	return merge(c.Client, struct {
		OwnerName string   `json:"owner_name,omitempty"`
		Auth      []string `json:"token_endpoint_auth_methods"`
		Secret    string   `json:"client_secret,omitempty"`
	}{c.OwnerName, c.Auth, c.Secret})
}

func (c *CreatedClient) UnmarshalJSON(b []byte) error {
	c.Client = new(mayfly.Client)
	if err := json.Unmarshal(b, c.Client); err != nil {
		return err
	}
	var v struct {
		OwnerName string   `json:"owner_name"`
		Auth      []string `json:"token_endpoint_auth_methods"`
		Secret    string   `json:"client_secret"`
	}
	err := json.Unmarshal(b, &v)
	c.OwnerName, c.Auth, c.Secret = v.OwnerName, v.Auth, v.Secret
	return err
}

func (r RingView) MarshalJSON() ([]byte, error) {
	return merge(r.Ring, struct {
		Keys []KeyView `json:"keys"`
	}{r.Keys})
}

func (r *RingView) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.Ring); err != nil {
		return err
	}
	var v struct {
		Keys []KeyView `json:"keys"`
	}
	err := json.Unmarshal(b, &v)
	r.Keys = v.Keys
	return err
}
