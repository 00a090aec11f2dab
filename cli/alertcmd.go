package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func alertCommands() *command {
	return &command{name: "alert", summary: "alerts the detection rules raised", sub: []*command{
		{name: "list", summary: "list alerts, newest last seen first (--format ocsf for a SIEM)", run: alertList},
		{name: "show", args: "ID", summary: "show an alert and its evidence", run: alertShow},
		{name: "ack", args: "ID", summary: "acknowledge an open alert: someone is looking into it", run: alertAck},
		{name: "resolve", args: "ID", summary: "resolve an alert; the rule firing again raises a new one", run: alertResolve},
	}}
}

func alertList(ctx context.Context, args []string, env Env) error {
	var rule, state, subject, format string
	var limit int
	_, a, c, err := admin("alert list", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&rule, "rule", "", "only this rule's alerts: "+rules())
		f.StringVar(&state, "state", "", "only alerts in this state: open, acknowledged or resolved")
		f.StringVar(&subject, "subject", "", "only alerts about this subject, such as kid:KID or client:ID")
		f.IntVar(&limit, "limit", 100, "at most this many")
		f.StringVar(&format, "format", "text", "text, or ocsf: one OCSF Detection Finding per line")
	})
	if err != nil {
		return err
	}
	if rule != "" && !validRule(rule) {
		return usagef("--rule %q is not a rule: %s", rule, rules())
	}
	switch mayfly.AlertState(state) {
	case "", mayfly.AlertOpen, mayfly.AlertAcknowledged, mayfly.AlertResolved:
	default:
		return usagef("--state must be open, acknowledged or resolved")
	}
	if limit < 1 {
		return usagef("--limit must be at least 1")
	}
	if format != "text" && format != "ocsf" {
		return usagef("--format must be text or ocsf")
	}
	list, err := c.Alerts(ctx, mayfly.AlertFilter{Rule: mayfly.Rule(rule), State: mayfly.AlertState(state), Subject: subject, Limit: limit})
	if err != nil {
		return err
	}
	if format == "ocsf" {
		enc := json.NewEncoder(env.Stdout)
		for _, v := range list {
			if err := enc.Encode(api.NewOCSF(&v.Alert, v.State != mayfly.AlertResolved)); err != nil {
				return err
			}
		}
		return nil
	}
	return a.print(env, list, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "No alerts.")
			return
		}
		row(w, "ID", "RULE", "STATE", "SUBJECT", "COUNT", "FIRST SEEN", "LAST SEEN", "SUMMARY")
		for _, v := range list {
			row(w, v.ID, string(v.Rule), string(v.State), subjectLabel(v), strconv.FormatInt(v.Count, 10), stamp(v.FirstSeen), stamp(v.LastSeen), cell(v.Summary))
		}
	})
}

func rules() string {
	var names []string
	for _, r := range mayfly.Rules {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

func validRule(r string) bool {
	for _, v := range mayfly.Rules {
		if string(v) == r {
			return true
		}
	}
	return false
}

// subjectLabel shows a subject with the name of its client or principal.
func subjectLabel(v *api.AlertView) string {
	if v.SubjectName == "" {
		return cell(v.Subject)
	}
	return cell(v.SubjectName) + " (" + cell(v.Subject) + ")"
}

func alertShow(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("alert show", args, env, 1, "one ID", nil)
	if err != nil {
		return err
	}
	v, err := c.Alert(ctx, f.pos[0])
	if err != nil {
		return err
	}
	return a.print(env, v, func(w io.Writer) { alertFields(w, v) })
}

func alertAck(ctx context.Context, args []string, env Env) error {
	return alertChange(ctx, "alert ack", args, env, false)
}

func alertResolve(ctx context.Context, args []string, env Env) error {
	return alertChange(ctx, "alert resolve", args, env, true)
}

func alertChange(ctx context.Context, name string, args []string, env Env, resolve bool) error {
	var note string
	f, a, c, err := admin(name, args, env, 1, "one ID", func(f *flags) {
		f.StringVar(&note, "note", "", "why, for the record")
	})
	if err != nil {
		return err
	}
	change := c.AckAlert
	if resolve {
		change = c.ResolveAlert
	}
	v, err := change(ctx, f.pos[0], note)
	if err != nil {
		return err
	}
	return a.print(env, v, func(w io.Writer) { alertFields(w, v) })
}

func alertFields(w io.Writer, v *api.AlertView) {
	fields(w, "id", v.ID, "rule", string(v.Rule), "state", string(v.State), "subject", subjectLabel(v), "summary", cell(v.Summary),
		"count", strconv.FormatInt(v.Count, 10), "first_seen", stamp(v.FirstSeen), "last_seen", stamp(v.LastSeen),
		"updated", stamp(v.UpdatedAt), "updated_by", label(v.UpdatedByName, v.UpdatedBy), "note", cell(dash(v.Note)))
	for _, act := range v.Actions {
		fields(w, "action", cell(act))
	}
	for i, e := range v.Evidence {
		var parts []string
		for _, kv := range [][2]string{{"service", e.Service}, {"source", e.SourceIP}, {"method", e.Method}, {"route", e.Route},
			{"jti", e.JTI}, {"digest", e.Digest}, {"kid", e.KID}, {"client", e.ClientID}, {"principal", e.PrincipalID}, {"sub", e.TokenSub}, {"detail", e.Detail}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+"="+kv[1])
			}
		}
		if e.Observed != 0 || e.Limit != 0 {
			parts = append(parts, fmt.Sprintf("observed=%d limit=%d", e.Observed, e.Limit))
		}
		fields(w, fmt.Sprintf("evidence %d", i+1), stamp(e.Time)+" "+cell(strings.Join(parts, " ")))
	}
}
