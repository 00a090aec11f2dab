package api

import (
	"encoding/json"

	"github.com/mayflyhq/mayfly"
)

// Views that name what an ID stands for. IDs are what scripts match and
// what commands take, but a person reading "prn_fw7f..." has to look it
// up; so beside each ID of a principal, client or admin credential these
// responses carry its name, in a member named after the ID's with _name
// (owner_name beside owner_id, principal_name beside principal_id or an
// audit entry's principal): the name at the time of the request. The
// member is left out when the ID names nothing the server knows, such as
// "mayfly" or a record since gone. The views only add members; every
// member of the object they wrap is there as before.

// PrincipalView is a principal with its owner's name.
type PrincipalView struct {
	mayfly.Principal
	OwnerName string `json:"owner_name,omitempty"`
}

// ClientView is a client with its owner's name.
type ClientView struct {
	*mayfly.Client
	OwnerName string `json:"owner_name,omitempty"`
	// Auth is how the client authenticates (mayfly.Client.AuthMethods),
	// which its secret's hash, never sent, decides in part.
	Auth []string `json:"token_endpoint_auth_methods"`
}

// CredentialView is an admin or SCIM credential with its owner's name.
type CredentialView struct {
	mayfly.AdminCredential
	OwnerName string `json:"owner_name,omitempty"`
}

// RevocationView is a revocation with the name of what it revoked, for a
// client or principal.
type RevocationView struct {
	mayfly.Revocation
	SubjectName string `json:"subject_name,omitempty"`
}

// IssuanceView is an issuance record with the names of its client and
// principal.
type IssuanceView struct {
	mayfly.Issuance
	ClientName    string `json:"client_name,omitempty"`
	PrincipalName string `json:"principal_name,omitempty"`
}

// CustodyView is a custody record with the names of its principal, of
// the one who recorded it and, for a client's secret or a credential, of
// the asset.
type CustodyView struct {
	mayfly.Custody
	PrincipalName string `json:"principal_name,omitempty"`
	ActorName     string `json:"actor_name,omitempty"`
	AssetName     string `json:"asset_name,omitempty"`
}

// OffboardingView is an offboarding run's report with names: of the
// person, of the one who takes over, of the admin who ran it, and of
// each action's subject.
type OffboardingView struct {
	mayfly.Offboarding
	PrincipalName  string `json:"principal_name,omitempty"`
	TransferToName string `json:"transfer_to_name,omitempty"`
	ActorName      string `json:"actor_name,omitempty"`
	// Actions are the run's actions, each with its subject's name; they
	// stand in for the embedded run's own in JSON. Decoding fills both.
	Actions []OffboardActionView `json:"actions"`
}

// OffboardActionView is an offboarding action with its subject's name.
type OffboardActionView struct {
	mayfly.OffboardAction
	SubjectName string `json:"subject_name,omitempty"`
}

// PendingView is a pending action with the names of those involved, and
// of its subject where that is a principal, client or credential.
type PendingView struct {
	mayfly.PendingAction
	SubjectName     string `json:"subject_name,omitempty"`
	RequestedByName string `json:"requested_by_name,omitempty"`
	RequesterName   string `json:"requester_name,omitempty"`
	DecidedByName   string `json:"decided_by_name,omitempty"`
	DeciderName     string `json:"decider_name,omitempty"`
}

// A client marshals itself, and would take over the view embedding it
// (see flat.go).

func (v ClientView) MarshalJSON() ([]byte, error) {
	return merge(v.Client, struct {
		OwnerName string   `json:"owner_name,omitempty"`
		Auth      []string `json:"token_endpoint_auth_methods"`
	}{v.OwnerName, v.Auth})
}

func (v *ClientView) UnmarshalJSON(b []byte) error {
	v.Client = new(mayfly.Client)
	if err := json.Unmarshal(b, v.Client); err != nil {
		return err
	}
	var n struct {
		OwnerName string   `json:"owner_name"`
		Auth      []string `json:"token_endpoint_auth_methods"`
	}
	err := json.Unmarshal(b, &n)
	v.OwnerName, v.Auth = n.OwnerName, n.Auth
	return err
}

func (v *OffboardingView) UnmarshalJSON(b []byte) error {
	type plain OffboardingView // without this method
	if err := json.Unmarshal(b, (*plain)(v)); err != nil {
		return err
	}
	v.Offboarding.Actions = make([]mayfly.OffboardAction, 0, len(v.Actions))
	for _, a := range v.Actions {
		v.Offboarding.Actions = append(v.Offboarding.Actions, a.OffboardAction)
	}
	return nil
}
