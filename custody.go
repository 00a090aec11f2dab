package mayfly

import "time"

// Asset names what a custody record is about: a secret someone could have
// used to mint or present credentials.
type Asset string

const (
	AssetRing         Asset = "ring"          // a signing key ring; AssetID is its name
	AssetRootKey      Asset = "root_key"      // the root key that seals key material; AssetID "root"
	AssetClientSecret Asset = "client_secret" // a client's secret; AssetID is the client ID
	AssetCredential   Asset = "credential"    // an admin or SCIM credential's token; AssetID is its ID
)

// RootKeyAsset is the AssetID of the root key.
const RootKeyAsset = "root"

// CustodyKind says how a principal came to have custody.
type CustodyKind string

const (
	CustodyCreated    CustodyKind = "created"     // made it
	CustodyShown      CustodyKind = "shown"       // was shown the secret
	CustodyAdmin      CustodyKind = "admin"       // administers the ring
	CustodyOperator   CustodyKind = "operator"    // runs the service with the root key file
	CustodyBreakGlass CustodyKind = "break_glass" // was granted emergency access
	CustodyGranted    CustodyKind = "granted"     // recorded by hand: custody outside Mayfly
)

// Valid reports whether k is a custody kind.
func (k CustodyKind) Valid() bool {
	switch k {
	case CustodyCreated, CustodyShown, CustodyAdmin, CustodyOperator, CustodyBreakGlass, CustodyGranted:
		return true
	}
	return false
}

// Custody records that a principal had access to an asset, and how. Records
// are only ever added: custody once had cannot be undone, only answered by
// rotating the asset.
type Custody struct {
	ID          int64       `json:"id"`
	PrincipalID string      `json:"principal_id"`
	Asset       Asset       `json:"asset"`
	AssetID     string      `json:"asset_id"`
	Kind        CustodyKind `json:"kind"`
	Reason      string      `json:"reason,omitempty"`
	Actor       string      `json:"actor"` // who recorded it: an admin credential or "mayfly"
	At          time.Time   `json:"at"`
}

// CustodyFilter selects custody records. Zero fields match everything.
type CustodyFilter struct {
	PrincipalID string
	Asset       Asset
	AssetID     string
}
