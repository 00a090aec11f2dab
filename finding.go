package mayfly

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FindingKind names a kind of finding of the inventory and policy report
// ("mayfly doctor"). The values are stable: scripts match them.
type FindingKind string

const (
	// FindingOwnerNotActive is a client, admin or SCIM credential, or
	// service that still works although its owner is suspended or
	// offboarded.
	FindingOwnerNotActive FindingKind = "owner-not-active"
	// FindingKeyOverdue is a signing key that outlived its schedule.
	FindingKeyOverdue FindingKind = "key-overdue"
	// FindingCustodianNotActive is a ring, or the root key, that a
	// suspended or offboarded person had custody of and that was not
	// replaced since.
	FindingCustodianNotActive FindingKind = "custodian-not-active"
	// FindingSecretOld is a client secret older than the allowed age.
	FindingSecretOld FindingKind = "secret-old"
	// FindingCustodianIdle is an active person with custody of keys or
	// secrets who has not been seen for a while.
	FindingCustodianIdle FindingKind = "custodian-idle"
	// FindingUnapproved is a change that needs a second person, made
	// without one while fewer than two people held admin credentials.
	FindingUnapproved FindingKind = "unapproved-change"
	// FindingAwaitingDecision is a pending action no administrator has
	// decided yet, or one approved but not carried out.
	FindingAwaitingDecision FindingKind = "awaiting-decision"
)

// Finding is one line of the doctor report.
type Finding struct {
	Kind    FindingKind `json:"kind"`
	Subject string      `json:"subject"` // what to act on, such as "client mfc_..." or "ring default"
	Message string      `json:"message"`
	IDs     []string    `json:"ids"` // the IDs involved, the subject's first
	// Names are the names of the principals, clients and credentials
	// among IDs, by ID, for those who read the report.
	Names map[string]string `json:"names,omitempty"`
}

// DoctorReport is the outcome of one run of the inventory and policy report.
type DoctorReport struct {
	At           time.Time `json:"at"`
	MaxSecretAge string    `json:"max_secret_age"` // a Go duration, as the rest of the API writes them
	IdleDays     int       `json:"idle_days"`
	Total        int       `json:"total"`
	Findings     []Finding `json:"findings"`
}

// Defaults and bounds of the doctor report's options.
const (
	DefaultMaxSecretAge = 90 * 24 * time.Hour
	DefaultIdleDays     = 30
	// DoctorMaxDays bounds both options, so that a typo cannot overflow a
	// time.
	DoctorMaxDays = 36500
)

// ParseAge reads an age written as whole days ("90d") or as a Go duration
// ("2160h"). It must be positive.
func ParseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > DoctorMaxDays {
			return 0, fmt.Errorf("%q is not a number of days between 1d and %dd", s, DoctorMaxDays)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive age such as 90d or 2160h", s)
	}
	return d, nil
}
