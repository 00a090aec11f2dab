// Package api holds the wire types of Mayfly's HTTP API: the request and
// response bodies of the admin API, the OAuth2 endpoints, the revocation
// stream, the Shared Signals transmitter and SCIM, and the paths they are
// served at. The server (package httpapi) writes and reads them, and so
// does the typed client (package client): a program that calls the API
// imports this package and the domain package, never the server.
//
// # Invariants
//
//   - This package imports only the standard library and the domain
//     package. It holds data; the only behaviour here is how a view is
//     encoded.
//   - JSON member names are the API's contract: scripts and receivers
//     match them, so they do not change.
//   - No type carries private key material or a stored secret hash. The
//     only secrets are those a response hands out once (CreatedClient's
//     client secret, CreatedCredential's token) and those a request brings
//     (SSFDelivery's authorization header, which is never returned).
package api

import (
	"net/http"

	"github.com/mayflyhq/mayfly"
)

// ErrorBody is the admin API's error response.
type ErrorBody struct {
	Error   mayfly.Code `json:"error"`
	Message string      `json:"message"`
	Field   string      `json:"field,omitempty"`
}

// Status is the one table from error codes to HTTP statuses, for the API
// and the console alike.
var Status = map[mayfly.Code]int{
	mayfly.Invalid:          http.StatusBadRequest,
	mayfly.NotFound:         http.StatusNotFound,
	mayfly.Conflict:         http.StatusConflict,
	mayfly.Unauthenticated:  http.StatusUnauthorized,
	mayfly.PermissionDenied: http.StatusForbidden,
	mayfly.Unavailable:      http.StatusServiceUnavailable,
	mayfly.RateLimited:      http.StatusTooManyRequests,
	mayfly.Internal:         http.StatusInternalServerError,
}
