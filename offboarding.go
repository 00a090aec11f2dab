package mayfly

import "time"

// Offboarding is one run of the offboarding workflow for a person: what it
// was asked to do, which steps are done, and what each did. It is saved
// after every step, so a run interrupted by a crash resumes where it stopped.
type Offboarding struct {
	ID          string    `json:"id"`
	PrincipalID string    `json:"principal_id"`
	Reason      string    `json:"reason,omitempty"`
	TransferTo  string    `json:"transfer_to,omitempty"` // principal ID that takes over clients and services
	Actor       string    `json:"actor"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// Done lists the steps completed, in order.
	Done []string `json:"done"`
	// Actions is the report: every action taken, in order.
	Actions []OffboardAction `json:"actions"`
}

// OffboardAction is one line of an offboarding report.
type OffboardAction struct {
	Step    string    `json:"step"`
	Action  Action    `json:"action"` // such as ActionClientRevoked
	Subject string    `json:"subject"`
	Detail  string    `json:"detail,omitempty"`
	At      time.Time `json:"at"`
	Audit   uint64    `json:"audit_index"` // the audit log entry that records it
}

// Clone returns a copy of o that shares no list with it.
func (o *Offboarding) Clone() *Offboarding {
	c := *o
	c.Done = append([]string{}, o.Done...)
	c.Actions = append([]OffboardAction{}, o.Actions...)
	return &c
}

// Finished reports whether every step of the run is done.
func (o *Offboarding) Finished() bool { return !o.FinishedAt.IsZero() }
