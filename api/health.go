package api

// The paths of the operational endpoints: liveness, readiness, metrics.
// With a separate ops listener, /metrics is served there alone.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// Readiness is the body of /readyz: 200 with ready true when the server
// can do its work, 503 with ready false and the reason when it cannot.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}
