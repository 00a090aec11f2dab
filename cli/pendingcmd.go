package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func pendingCommands() *command {
	return &command{name: "pending", summary: "changes waiting for an administrator's decision", sub: []*command{
		{name: "list", summary: "list pending actions", run: pendingList},
		{name: "show", args: "ID", summary: "show a pending action", run: pendingShow},
		{name: "approve", args: "ID", summary: "approve a pending action, which is then carried out", run: pendingApprove},
		{name: "reject", args: "ID", summary: "reject a pending action; nothing changes", run: pendingReject},
	}}
}

func pendingList(ctx context.Context, args []string, env Env) error {
	var status string
	_, a, c, err := admin("pending list", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&status, "status", "pending", "which: pending, approved, rejected or all")
	})
	if err != nil {
		return err
	}
	if status == "all" {
		status = ""
	} else if !mayfly.PendingStatus(status).Valid() {
		return usagef("--status must be pending, approved, rejected or all")
	}
	list, err := c.PendingActions(ctx, mayfly.PendingStatus(status))
	if err != nil {
		return err
	}
	return a.print(env, list, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "Nothing is waiting for a decision.")
			return
		}
		row(w, "ID", "STATUS", "KIND", "SUBJECT", "REQUESTED", "BY", "WHY")
		for _, p := range list {
			row(w, p.ID, string(p.Status), string(p.Kind), label(p.SubjectName, p.Subject), stamp(p.RequestedAt), label(p.RequestedByName, p.RequestedBy), p.Why)
		}
	})
}

func pendingShow(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("pending show", args, env, 1, "one ID", nil)
	if err != nil {
		return err
	}
	p, err := c.PendingAction(ctx, f.pos[0])
	if err != nil {
		return err
	}
	return a.print(env, p, func(w io.Writer) { pendingFields(w, p) })
}

func pendingApprove(ctx context.Context, args []string, env Env) error {
	return pendingDecide(ctx, "pending approve", args, env, true)
}

func pendingReject(ctx context.Context, args []string, env Env) error {
	return pendingDecide(ctx, "pending reject", args, env, false)
}

func pendingDecide(ctx context.Context, name string, args []string, env Env, approve bool) error {
	var reason string
	f, a, c, err := admin(name, args, env, 1, "one ID", func(f *flags) {
		f.StringVar(&reason, "reason", "", "why, for the record")
	})
	if err != nil {
		return err
	}
	decide := c.Reject
	if approve {
		decide = c.Approve
	}
	p, err := decide(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, p, func(w io.Writer) { pendingFields(w, p) })
}

func pendingFields(w io.Writer, p *api.PendingView) {
	fields(w, "id", p.ID, "kind", string(p.Kind), "subject", label(p.SubjectName, p.Subject), "status", string(p.Status), "why", cell(p.Why),
		"requested_by", label(p.RequestedByName, p.RequestedBy), "requester", label(p.RequesterName, p.Requester), "requested", stamp(p.RequestedAt),
		"decided_by", label(p.DecidedByName, p.DecidedBy), "decider", label(p.DeciderName, p.Decider), "decided", stamp(p.DecidedAt),
		"reason", cell(dash(p.Reason)), "done", stamp(p.DoneAt), "result", cell(dash(p.Result)))
	for _, k := range slices.Sorted(maps.Keys(p.Params)) {
		fields(w, "param "+cell(k), cell(p.Params[k]))
	}
}
