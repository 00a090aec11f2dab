package api

// ScopePath answers a mayfly.ScopeQuery with a mayfly.Scope;
// ScopeReportPath answers one with a signed ScopeReport.
const (
	ScopePath       = "/v1/scope"
	ScopeReportPath = "/v1/scope/report"
)
