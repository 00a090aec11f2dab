package api

import "time"

// SCIM schema and message URNs, and the content type (RFC 7644 §3.1, §8).
const (
	SCIMUserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	SCIMEnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SCIMListSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SCIMPatchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SCIMErrorSchema      = "urn:ietf:params:scim:api:messages:2.0:Error"
	SCIMContentType      = "application/scim+json"
	// SCIMPath is the base of every SCIM endpoint.
	SCIMPath = "/scim/v2"
)

// SCIMUser is a person as a SCIM User resource (RFC 7643 §4.1).
type SCIMUser struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        *SCIMName   `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Emails      []SCIMEmail `json:"emails,omitempty"`
	Active      bool        `json:"active"`
	Meta        SCIMMeta    `json:"meta"`
}

// SCIMName is a user's name. Mayfly returns only formatted, the display name.
type SCIMName struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

// SCIMEmail is one of a user's email addresses.
type SCIMEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// SCIMMeta is a resource's metadata (RFC 7643 §3.1).
type SCIMMeta struct {
	ResourceType string    `json:"resourceType"`
	Created      time.Time `json:"created,omitzero"`
	LastModified time.Time `json:"lastModified,omitzero"`
	Location     string    `json:"location"`
	Version      string    `json:"version,omitempty"`
}

// SCIMListResponse is a page of resources (RFC 7644 §3.4.2).
type SCIMListResponse[T any] struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []T      `json:"Resources"`
}

// SCIMError is the error response of RFC 7644 §3.12.
type SCIMError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	SCIMType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}
