package mayfly

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error for callers and transports.
type Code string

// Error codes. The HTTP layer maps each to a status in one table.
const (
	Invalid          Code = "invalid"           // the request is malformed or breaks a rule
	NotFound         Code = "not_found"         // the named thing does not exist
	Conflict         Code = "conflict"          // the thing exists or is in the wrong state
	Unauthenticated  Code = "unauthenticated"   // credentials missing or wrong
	PermissionDenied Code = "permission_denied" // authenticated but not allowed
	Unavailable      Code = "unavailable"       // try again later
	RateLimited      Code = "rate_limited"      // too soon after the last such request
	Internal         Code = "internal"          // a bug or a failed dependency
)

// Sentinels to branch on with errors.Is; any *Error with the same code matches.
var (
	ErrInvalid          = &Error{Code: Invalid}
	ErrNotFound         = &Error{Code: NotFound}
	ErrConflict         = &Error{Code: Conflict}
	ErrUnauthenticated  = &Error{Code: Unauthenticated}
	ErrPermissionDenied = &Error{Code: PermissionDenied}
	ErrUnavailable      = &Error{Code: Unavailable}
	ErrRateLimited      = &Error{Code: RateLimited}
)

// Error is Mayfly's one error type. Msg is safe to show a client; Err is the
// cause, for the log only.
type Error struct {
	Op    string // the operation, such as "keys.Rotate"
	Code  Code
	Msg   string
	Field string // the input at fault, if one is: "scope", "audience", ...
	Err   error
	// RetryAfter, on a RateLimited or Unavailable error, is how long the
	// caller should wait before trying again; transports pass it on (HTTP
	// as Retry-After).
	RetryAfter time.Duration
}

// Errorf returns an *Error with a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid error that names the input at fault.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// E wraps cause as an internal error of op. The cause is logged, never shown.
func E(op string, cause error) error {
	if cause == nil {
		return nil
	}
	var me *Error
	if errors.As(cause, &me) {
		return cause
	}
	return &Error{Op: op, Code: Internal, Err: cause}
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = string(e.Code)
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches a sentinel of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && *t == Error{Code: e.Code}
}

// ErrorCode returns err's code, Internal for foreign errors and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// RetryAfter returns how long err asks its caller to wait before trying
// again, or 0 when it does not say.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorMessage returns the part of err that may be shown to a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Msg != "" {
		return e.Msg
	}
	if ErrorCode(err) == Internal {
		return "internal error"
	}
	return string(ErrorCode(err))
}
