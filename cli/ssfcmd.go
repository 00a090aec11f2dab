package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// Receivers create their own streams through the SSF API; the CLI is for
// the operator who has to see them, stop one, or remove it.
func ssfCommands() *command {
	return &command{name: "ssf", summary: "Shared Signals streams to receivers", sub: []*command{
		{name: "list", summary: "list every stream", run: ssfList},
		{name: "show", args: "STREAM_ID", summary: "show a stream's configuration and status", run: ssfShow},
		{name: "status", args: "STREAM_ID enabled|paused|disabled", summary: "set a stream's status", run: ssfSetStatus},
		{name: "delete", args: "STREAM_ID", summary: "delete a stream and the events it has queued", run: ssfDelete},
	}}
}

func ssfList(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("ssf list", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	sts, err := c.SSFStreams(ctx)
	if err != nil {
		return err
	}
	return a.print(env, sts, func(w io.Writer) {
		row(w, "STREAM_ID", "AUD", "DELIVERY", "ENDPOINT")
		for _, st := range sts {
			row(w, st.StreamID, st.Aud, deliveryName(st.Delivery.Method), dash(st.Delivery.EndpointURL))
		}
	})
}

func deliveryName(method string) string {
	switch method {
	case mayfly.DeliveryPush:
		return "push"
	case mayfly.DeliveryPoll:
		return "poll"
	}
	return method
}

func ssfShow(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("ssf show", args, env, 1, "one STREAM_ID", nil)
	if err != nil {
		return err
	}
	st, err := c.SSFStream(ctx, f.pos[0])
	if err != nil {
		return err
	}
	status, err := c.SSFStatus(ctx, st.StreamID)
	if err != nil {
		return err
	}
	out := struct {
		api.SSFStreamConfig
		Status mayfly.SSFStatus `json:"status"`
		Reason string           `json:"reason,omitempty"`
	}{*st, status.Status, status.Reason}
	return a.print(env, out, func(w io.Writer) {
		fields(w, "stream_id", st.StreamID, "aud", st.Aud, "delivery", deliveryName(st.Delivery.Method),
			"endpoint_url", dash(st.Delivery.EndpointURL), "events", join(st.EventsDelivered),
			"description", cell(dash(st.Description)), "status", string(status.Status), "reason", cell(dash(status.Reason)))
	})
}

func ssfSetStatus(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("ssf status", args, env, 2, "a STREAM_ID and a status (enabled, paused or disabled)", reasonFlag(&reason))
	if err != nil {
		return err
	}
	st, err := c.SetSSFStatus(ctx, api.SSFStatus{StreamID: f.pos[0], Status: mayfly.SSFStatus(f.pos[1]), Reason: reason})
	if err != nil {
		return err
	}
	return a.print(env, st, func(w io.Writer) {
		fields(w, "stream_id", st.StreamID, "status", string(st.Status), "reason", cell(dash(st.Reason)))
	})
}

func ssfDelete(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("ssf delete", args, env, 1, "one STREAM_ID", nil)
	if err != nil {
		return err
	}
	if err := c.DeleteSSFStream(ctx, f.pos[0]); err != nil {
		return err
	}
	return a.print(env, map[string]string{"deleted": f.pos[0]}, func(w io.Writer) { fmt.Fprintf(w, "deleted stream %s\n", f.pos[0]) })
}
