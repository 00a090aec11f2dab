package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// doctor prints the inventory and policy report. It exits 1 when anything
// is found, so that cron and CI notice; a usage error still exits 2.
func doctor(ctx context.Context, args []string, env Env) error {
	var maxAge time.Duration
	var idleDays int
	_, a, c, err := admin("doctor", args, env, 0, "no arguments", func(f *flags) {
		f.Func("max-secret-age", "report client secrets older than this `age`, in days (90d) or as a duration (2160h) (default 90d)", func(s string) error {
			var err error
			if maxAge, err = mayfly.ParseAge(s); err != nil && !strings.HasSuffix(s, "d") {
				return errors.New(durationForm + ", or days such as 90d")
			}
			return err
		})
		f.CountVar(&idleDays, "idle-days", 0, fmt.Sprintf("report custodians not seen for this many days (default %d)", mayfly.DefaultIdleDays))
	})
	if err != nil {
		return err
	}
	if idleDays < 0 || idleDays > mayfly.DoctorMaxDays {
		return usagef("--idle-days %d is not between 1 and %d", idleDays, mayfly.DoctorMaxDays)
	}
	rep, err := c.Doctor(ctx, maxAge, idleDays)
	if err != nil {
		return err
	}
	if err := a.print(env, rep, func(w io.Writer) { findingsTable(w, rep) }); err != nil {
		return err
	}
	switch rep.Total {
	case 0:
		return nil
	case 1:
		return errors.New("1 finding")
	}
	return fmt.Errorf("%d findings", rep.Total)
}

func findingsTable(w io.Writer, rep *mayfly.DoctorReport) {
	if len(rep.Findings) == 0 {
		fmt.Fprintln(w, "no findings")
		return
	}
	row(w, "KIND", "SUBJECT", "MESSAGE")
	for _, f := range rep.Findings {
		row(w, string(f.Kind), findingSubject(f), f.Message)
	}
}

// findingSubject is a finding's subject, "client mfc_...", with the name
// of the ID in it: "client billing-api (mfc_...)".
func findingSubject(f mayfly.Finding) string {
	what, id, ok := strings.Cut(f.Subject, " ")
	if !ok || f.Names[id] == "" {
		return f.Subject
	}
	return what + " " + label(f.Names[id], id)
}
