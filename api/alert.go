package api

import (
	"time"

	"github.com/mayflyhq/mayfly"
)

// Alerts: GET AlertsPath lists them (?rule=&state=&subject=&limit=), GET
// AlertsPath/{id} shows one as a mayfly.Alert, POST AlertsPath/{id}/ack
// and /resolve change its state with an optional AlertNote, and GET
// AlertStreamPath is a Server-Sent Events stream of every change: event
// "alert", id the alert's Seq, data the alert as JSON. A client that
// reconnects with Last-Event-ID (or ?after=SEQ) gets the changes after
// it.
const (
	AlertsPath      = "/v1/alerts"
	AlertStreamPath = "/v1/alerts/stream"
)

// AlertNote is the optional body of an acknowledgement or resolution.
type AlertNote struct {
	Note string `json:"note,omitempty"`
}

// Alert event types: the "type" of a webhook's payload, and the audit
// entry of the change where there is one.
const (
	AlertRaised       = "alert.raised"       // a new alert
	AlertUpdated      = "alert.updated"      // the rule fired again
	AlertAcknowledged = "alert.acknowledged" // someone is looking into it
	AlertResolved     = "alert.resolved"
	AlertContained    = "alert.contained" // containment acted on it
)

// AlertEvent is the payload of an alert webhook, per the Standard
// Webhooks specification: the event's type, when it happened, and the
// alert as it then stood.
type AlertEvent struct {
	Type      string        `json:"type"`
	Timestamp time.Time     `json:"timestamp"`
	Data      *mayfly.Alert `json:"data"`
}

// OCSF is an alert change as an OCSF Detection Finding (class 2004), the
// form a SIEM ingests. Times are milliseconds since the Unix epoch, as
// OCSF's timestamp_t.
type OCSF struct {
	ClassUID     int             `json:"class_uid"`
	ClassName    string          `json:"class_name"`
	CategoryUID  int             `json:"category_uid"`
	CategoryName string          `json:"category_name"`
	ActivityID   int             `json:"activity_id"`
	ActivityName string          `json:"activity_name"`
	TypeUID      int             `json:"type_uid"`
	Time         int64           `json:"time"`
	SeverityID   int             `json:"severity_id"`
	Severity     string          `json:"severity"`
	StatusID     int             `json:"status_id"`
	Status       string          `json:"status"`
	Message      string          `json:"message"`
	Count        int64           `json:"count"`
	FindingInfo  OCSFFindingInfo `json:"finding_info"`
	Metadata     OCSFMetadata    `json:"metadata"`
	// Unmapped holds what OCSF has no member for: the alert's subject,
	// evidence and containment actions.
	Unmapped OCSFUnmapped `json:"unmapped"`
}

type OCSFFindingInfo struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Types         []string `json:"types"`
	FirstSeenTime int64    `json:"first_seen_time"`
	LastSeenTime  int64    `json:"last_seen_time"`
}

type OCSFMetadata struct {
	Product OCSFProduct `json:"product"`
	Version string      `json:"version"` // of the OCSF schema
}

type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type OCSFUnmapped struct {
	Subject  string                 `json:"subject"`
	Evidence []mayfly.AlertEvidence `json:"evidence"`
	Actions  []string               `json:"actions,omitempty"`
	Seq      int64                  `json:"seq"`
}

// OCSFVersion is the OCSF schema version the findings follow.
const OCSFVersion = "1.3.0"

// AlertSeverity is how grave a rule's alert is, as OCSF's severity_id
// (1 informational to 5 critical) and its name.
func AlertSeverity(r mayfly.Rule) (int, string) {
	switch r {
	case mayfly.RuleForgedToken:
		return 5, "Critical"
	case mayfly.RuleRevokedInUse, mayfly.RuleBulkRead, mayfly.RuleRefreshReuse:
		return 4, "High"
	case mayfly.RuleNewNetwork, mayfly.RuleSharedSource:
		return 3, "Medium"
	case mayfly.RuleStaleVerifier:
		return 2, "Low"
	}
	return 0, "Unknown"
}

// NewOCSF encodes a as a Detection Finding: activity Create for a new
// alert, Close for a resolved one, Update otherwise.
func NewOCSF(a *mayfly.Alert, created bool) OCSF {
	activity, name := 2, "Update"
	switch {
	case created:
		activity, name = 1, "Create"
	case a.State == mayfly.AlertResolved:
		activity, name = 3, "Close"
	}
	status, statusName := 1, "New"
	switch a.State {
	case mayfly.AlertAcknowledged:
		status, statusName = 2, "In Progress"
	case mayfly.AlertResolved:
		status, statusName = 4, "Resolved"
	}
	sev, sevName := AlertSeverity(a.Rule)
	at := a.UpdatedAt
	if at.IsZero() {
		at = a.LastSeen
	}
	return OCSF{
		ClassUID: 2004, ClassName: "Detection Finding", CategoryUID: 2, CategoryName: "Findings",
		ActivityID: activity, ActivityName: name, TypeUID: 2004*100 + activity,
		Time: at.UnixMilli(), SeverityID: sev, Severity: sevName, StatusID: status, Status: statusName,
		Message: a.Summary, Count: a.Count,
		FindingInfo: OCSFFindingInfo{UID: a.ID, Title: a.Summary, Types: []string{string(a.Rule)},
			FirstSeenTime: a.FirstSeen.UnixMilli(), LastSeenTime: a.LastSeen.UnixMilli()},
		Metadata: OCSFMetadata{Product: OCSFProduct{Name: "Mayfly", VendorName: "Mayfly"}, Version: OCSFVersion},
		Unmapped: OCSFUnmapped{Subject: a.Subject, Evidence: a.Evidence, Actions: a.Actions, Seq: a.Seq},
	}
}

// AlertView is an alert with the names of the IDs it shows: its subject's
// when the subject is a client or principal, and the credential that
// changed its state last.
type AlertView struct {
	mayfly.Alert
	SubjectName   string `json:"subject_name,omitempty"`
	UpdatedByName string `json:"updated_by_name,omitempty"`
}
