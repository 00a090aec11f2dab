package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// SSF runs the suite of mayfly.SSFStore: Shared Signals streams and their
// queues.
func SSF(t *testing.T, open func(t *testing.T) SSFStore) {
	t.Helper()
	run(t, open, []test[SSFStore]{
		{"Streams/RoundTrip", testSSFStreamRoundTrip},
		{"Missing", testSSFMissing},
		{"Streams/Update", testSSFUpdate},
		{"Streams/Delete", testSSFDelete},
		{"Queue/Cursor", testSSFQueueCursor},
		{"Queue/Duplicate", testSSFQueueDuplicate},
		{"Queue/Pending", testSSFPending},
		{"Queue/Ack", testSSFAck},
		{"Queue/Defer", testSSFDefer},
		{"Queue/CursorRace", testSSFCursorRace},
	})
}

func mustStream(t *testing.T, s mayfly.SSFStore, id string) *mayfly.SSFStream {
	t.Helper()
	st, err := s.SSFStream(t.Context(), id)
	if err != nil {
		t.Fatalf("SSFStream(%q): %v", id, err)
	}
	return st
}

func pending(t *testing.T, s mayfly.SSFStore, streamID string, now time.Time, limit int) []mayfly.QueuedSET {
	t.Helper()
	got, err := s.PendingSETs(t.Context(), streamID, now, limit)
	if err != nil {
		t.Fatalf("PendingSETs(%q, %s, %d): %v", streamID, fmtTime(now), limit, err)
	}
	return got
}

func pendingJTIs(t *testing.T, s mayfly.SSFStore, streamID string, now time.Time, limit int) []string {
	t.Helper()
	var out []string
	for _, q := range pending(t, s, streamID, now, limit) {
		out = append(out, q.JTI)
	}
	return out
}

// wantJTIs fails unless got is want, in order; nil and empty are equal.
func wantJTIs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// fullStream has every field set, times off the microsecond and out of UTC.
func fullStream(id, owner string, created time.Time) *mayfly.SSFStream {
	return &mayfly.SSFStream{
		ID: id, Owner: owner, Audience: "https://receiver.example/" + id, Method: mayfly.DeliveryPush,
		EndpointURL: "https://receiver.example/events?stream=" + id, AuthorizationHeader: "Bearer s3cr3t-" + id,
		EventsRequested: []string{
			"https://schemas.openid.net/secevent/caep/event-type/session-revoked",
			"https://schemas.openid.net/secevent/caep/event-type/credential-change",
		},
		Description: "Zoë's receiver, \"quoted\"\n",
		Excluded:    []string{`{"format":"email","email":"ceo@example.com"}`, `{"format":"opaque","id":"prn-x"}`},
		Status:      mayfly.SSFPaused, Reason: "receiver maintenance", Cursor: 42,
		CreatedAt: created.Add(fine).In(zone), UpdatedAt: created.Add(time.Hour + fine),
	}
}

// bareStream is a poll stream with nothing optional set.
func bareStream(id string, created time.Time) *mayfly.SSFStream {
	return &mayfly.SSFStream{ID: id, Audience: "https://poller.example", Method: mayfly.DeliveryPoll, Status: mayfly.SSFEnabled, CreatedAt: created}
}

func queued(jti string, created time.Time) mayfly.QueuedSET {
	return mayfly.QueuedSET{JTI: jti, Claims: []byte(`{"jti":"` + jti + `","events":{}}`), CreatedAt: created}
}

func diffStream(got, want *mayfly.SSFStream) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("Owner", got.Owner, want.Owner)
	d.eq("Audience", got.Audience, want.Audience)
	d.eq("Method", got.Method, want.Method)
	d.eq("EndpointURL", got.EndpointURL, want.EndpointURL)
	d.eq("AuthorizationHeader", got.AuthorizationHeader, want.AuthorizationHeader)
	// Empty lists read back as nil, so that streams compare with DeepEqual.
	if !reflect.DeepEqual(got.EventsRequested, normList(want.EventsRequested)) {
		d.add("EventsRequested", fmt.Sprintf("%#v", got.EventsRequested), fmt.Sprintf("%#v", normList(want.EventsRequested)))
	}
	d.eq("Description", got.Description, want.Description)
	if !reflect.DeepEqual(got.Excluded, normList(want.Excluded)) {
		d.add("Excluded", fmt.Sprintf("%#v", got.Excluded), fmt.Sprintf("%#v", normList(want.Excluded)))
	}
	d.eq("Status", got.Status, want.Status)
	d.eq("Reason", got.Reason, want.Reason)
	if got.Cursor != want.Cursor {
		d.add("Cursor", got.Cursor, want.Cursor)
	}
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	if got.Version != want.Version {
		d.add("Version", got.Version, want.Version)
	}
	return d
}

func normList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func diffQueued(got, want mayfly.QueuedSET) diff {
	var d diff
	d.eq("StreamID", got.StreamID, want.StreamID)
	d.eq("JTI", got.JTI, want.JTI)
	d.bytes("Claims", got.Claims, want.Claims)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	if got.Attempts != want.Attempts {
		d.add("Attempts", got.Attempts, want.Attempts)
	}
	d.time("NextAttempt", got.NextAttempt, want.NextAttempt)
	return d
}

// inStream returns sets as PendingSETs returns them from stream.
func inStream(stream string, sets ...mayfly.QueuedSET) []mayfly.QueuedSET {
	out := slices.Clone(sets)
	for i := range out {
		out[i].StreamID = stream
	}
	return out
}

func testSSFStreamRoundTrip(t *testing.T, s SSFStore) {
	ctx := t.Context()
	w := newWorld() // names only: a stream's owner is not a reference
	if all, err := s.SSFStreams(ctx); err != nil || len(all) != 0 {
		t.Fatalf("SSFStreams on an empty store: %d streams, %v; want none", len(all), err)
	}
	full := fullStream("ssf-1", w.cA.ID, t0)
	full.Version = 9 // CreateSSFStream stores version 1 whatever it is given
	bare := bareStream("ssf-2", t0.Add(time.Hour))
	// Empty lists, not nil ones: they read back as nil.
	empty := bareStream("ssf-3", t0.Add(2*time.Hour))
	empty.EventsRequested, empty.Excluded, empty.Status = []string{}, []string{}, mayfly.SSFDisabled
	for _, st := range []*mayfly.SSFStream{full, bare, empty} {
		must(t, "CreateSSFStream("+st.ID+")", do(t, s, s.CreateSSFStream, st))
		if st.Version != 1 {
			t.Errorf("CreateSSFStream(%s) set Version %d, want 1", st.ID, st.Version)
		}
		diffStream(mustStream(t, s, st.ID), st).report(t, "SSFStream("+st.ID+")")
	}
	if got := mustStream(t, s, empty.ID); got.EventsRequested != nil || got.Excluded != nil {
		t.Errorf("stream stored with empty lists read back EventsRequested %#v, Excluded %#v; want nil", got.EventsRequested, got.Excluded)
	}
	all, err := s.SSFStreams(ctx)
	must(t, "SSFStreams", err)
	diffList(t, "SSFStreams", all, []*mayfly.SSFStream{full, bare, empty}, diffStream)

	dup := bareStream(full.ID, t0.Add(3*time.Hour))
	wantErr(t, "CreateSSFStream of an existing id", do(t, s, s.CreateSSFStream, dup), mayfly.ErrConflict)
	diffStream(mustStream(t, s, full.ID), full).report(t, "SSFStream after a duplicate create")
}

// testSSFMissing: a stream that does not exist is not found, except by
// PendingSETs and AckSETs, which find nothing in it.
func testSSFMissing(t *testing.T, s SSFStore) {
	ctx := t.Context()
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, bareStream("ssf-1", t0)))
	_, err := s.SSFStream(ctx, "ssf-nobody")
	wantErr(t, "SSFStream of a missing stream", err, mayfly.ErrNotFound)
	missing := bareStream("ssf-nobody", t0)
	missing.Version = 1
	wantErr(t, "UpdateSSFStream of a missing stream", do(t, s, s.UpdateSSFStream, missing), mayfly.ErrNotFound)
	wantErr(t, "DeleteSSFStream of a missing stream", do(t, s, s.DeleteSSFStream, "ssf-nobody"), mayfly.ErrNotFound)
	wantErr(t, "QueueSETs to a missing stream", s.QueueSETs(ctx, "ssf-nobody", 0, 0, []mayfly.QueuedSET{queued("set-1", t0)}), mayfly.ErrNotFound)
	wantErr(t, "QueueSETs to a missing stream, moving its cursor", s.QueueSETs(ctx, "ssf-nobody", 0, 5, []mayfly.QueuedSET{queued("set-1", t0)}), mayfly.ErrNotFound)
	wantErr(t, "QueueSETs of nothing to a missing stream", s.QueueSETs(ctx, "ssf-nobody", 0, 0, nil), mayfly.ErrNotFound)
	wantErr(t, "DeferSET in a missing stream", s.DeferSET(ctx, "ssf-nobody", "set-1", 1, t0), mayfly.ErrNotFound)
	wantErr(t, "DeferSET of a missing SET", s.DeferSET(ctx, "ssf-1", "set-1", 1, t0), mayfly.ErrNotFound)
	if got := pending(t, s, "ssf-nobody", t0, 10); len(got) != 0 {
		t.Errorf("PendingSETs of a missing stream: got %d, want none", len(got))
	}
	if n, err := s.AckSETs(ctx, "ssf-nobody", []string{"set-1"}); n != 0 || err != nil {
		t.Errorf("AckSETs in a missing stream: %d, %v; want 0, nil", n, err)
	}
	if all, err := s.SSFStreams(ctx); err != nil || len(all) != 1 {
		t.Errorf("SSFStreams after refused writes: %d streams, %v; want 1", len(all), err)
	}
}

func testSSFUpdate(t *testing.T, s SSFStore) {
	ctx := t.Context()
	w := newWorld() // names only: a stream's owner is not a reference
	orig := fullStream("ssf-1", w.cA.ID, t0)
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, orig))
	other := bareStream("ssf-2", t0.Add(time.Hour))
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, other))

	// Everything but the cursor changes.
	st := *mustStream(t, s, orig.ID)
	st.Owner, st.Audience, st.Method, st.EndpointURL = w.cB.ID, "https://new.example", mayfly.DeliveryPoll, ""
	st.AuthorizationHeader, st.EventsRequested, st.Description = "", nil, "polled now"
	st.Excluded = []string{`{"format":"opaque","id":"prn-y"}`}
	st.Status, st.Reason, st.UpdatedAt = mayfly.SSFEnabled, "maintenance over", t0.Add(2*time.Hour+fine).In(zone)
	st.Cursor = 7
	must(t, "UpdateSSFStream", do(t, s, s.UpdateSSFStream, &st))
	if st.Version != 2 {
		t.Errorf("UpdateSSFStream set Version %d, want 2", st.Version)
	}
	want := st
	want.Cursor = orig.Cursor
	diffStream(mustStream(t, s, orig.ID), &want).report(t, "SSFStream after UpdateSSFStream")

	// A copy read before that update is refused and changes nothing.
	stale := *orig
	stale.Reason = "stale"
	wantErr(t, "UpdateSSFStream from a stale copy", do(t, s, s.UpdateSSFStream, &stale), mayfly.ErrConflict)
	diffStream(mustStream(t, s, orig.ID), &want).report(t, "SSFStream after a stale update")

	// Moving the cursor does not make a copy stale, and an update from a
	// copy read before the move does not move it back.
	read := *mustStream(t, s, orig.ID)
	must(t, "QueueSETs moving the cursor", s.QueueSETs(ctx, orig.ID, orig.Cursor, 50, nil))
	read.Status, read.Reason = mayfly.SSFPaused, "paused again"
	must(t, "UpdateSSFStream from a copy read before the cursor moved", do(t, s, s.UpdateSSFStream, &read))
	want = read
	want.Cursor = 50
	diffStream(mustStream(t, s, orig.ID), &want).report(t, "SSFStream after the cursor moved and an update")
	diffStream(mustStream(t, s, other.ID), other).report(t, "other SSFStream")
}

func testSSFDelete(t *testing.T, s SSFStore) {
	ctx := t.Context()
	a, b := bareStream("ssf-a", t0), bareStream("ssf-b", t0.Add(time.Hour))
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, a))
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, b))
	sets := []mayfly.QueuedSET{queued("set-1", t0), queued("set-2", t0)}
	must(t, "QueueSETs", s.QueueSETs(ctx, a.ID, 0, 0, sets))
	must(t, "QueueSETs", s.QueueSETs(ctx, b.ID, 0, 0, sets))

	must(t, "DeleteSSFStream", do(t, s, s.DeleteSSFStream, a.ID))
	_, err := s.SSFStream(ctx, a.ID)
	wantErr(t, "SSFStream after DeleteSSFStream", err, mayfly.ErrNotFound)
	wantJTIs(t, "PendingSETs of a deleted stream", pendingJTIs(t, s, a.ID, t0, 0), nil)
	all, err := s.SSFStreams(ctx)
	must(t, "SSFStreams", err)
	diffList(t, "SSFStreams after DeleteSSFStream", all, []*mayfly.SSFStream{b}, diffStream)
	wantJTIs(t, "PendingSETs of the other stream", pendingJTIs(t, s, b.ID, t0, 0), []string{"set-1", "set-2"})

	// A stream made again under the same id starts with an empty queue,
	// so the old SETs' jtis are free again.
	again := bareStream(a.ID, t0.Add(2*time.Hour))
	must(t, "CreateSSFStream again", do(t, s, s.CreateSSFStream, again))
	wantJTIs(t, "PendingSETs of a stream made again", pendingJTIs(t, s, a.ID, t0, 0), nil)
	must(t, "QueueSETs of an old jti to the stream made again", s.QueueSETs(ctx, a.ID, 0, 0, sets[:1]))
	wantJTIs(t, "PendingSETs of the stream made again", pendingJTIs(t, s, a.ID, t0, 0), []string{"set-1"})
}

func testSSFQueueCursor(t *testing.T, s SSFStore) {
	ctx := t.Context()
	st := bareStream("ssf-1", t0)
	st.Cursor = 3
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, st))
	cursor := func() int64 { t.Helper(); return mustStream(t, s, st.ID).Cursor }

	wantErr(t, "QueueSETs from a cursor it is not at", s.QueueSETs(ctx, st.ID, 1, 5, []mayfly.QueuedSET{queued("set-x", t0)}), mayfly.ErrConflict)
	wantJTIs(t, "PendingSETs after a stale QueueSETs", pendingJTIs(t, s, st.ID, t0, 0), nil)
	if c := cursor(); c != 3 {
		t.Errorf("cursor after a stale QueueSETs: got %d, want 3", c)
	}

	must(t, "QueueSETs(3, 5)", s.QueueSETs(ctx, st.ID, 3, 5, []mayfly.QueuedSET{queued("set-1", t0), queued("set-2", t0)}))
	if c := cursor(); c != 5 {
		t.Errorf("cursor after QueueSETs(3, 5): got %d, want 5", c)
	}
	// from == to queues without touching the cursor.
	must(t, "QueueSETs(5, 5)", s.QueueSETs(ctx, st.ID, 5, 5, []mayfly.QueuedSET{queued("set-3", t0)}))
	if c := cursor(); c != 5 {
		t.Errorf("cursor after QueueSETs(5, 5): got %d, want 5", c)
	}
	// Revocations that made no events still move the cursor.
	must(t, "QueueSETs(5, 8) of nothing", s.QueueSETs(ctx, st.ID, 5, 8, nil))
	if c := cursor(); c != 8 {
		t.Errorf("cursor after QueueSETs(5, 8) of nothing: got %d, want 8", c)
	}
	wantErr(t, "QueueSETs from where the cursor was", s.QueueSETs(ctx, st.ID, 5, 9, []mayfly.QueuedSET{queued("set-y", t0)}), mayfly.ErrConflict)
	if c := cursor(); c != 8 {
		t.Errorf("cursor after a stale QueueSETs: got %d, want 8", c)
	}
	wantJTIs(t, "PendingSETs", pendingJTIs(t, s, st.ID, t0, 0), []string{"set-1", "set-2", "set-3"})
}

func testSSFQueueDuplicate(t *testing.T, s SSFStore) {
	ctx := t.Context()
	a, b := bareStream("ssf-a", t0), bareStream("ssf-b", t0)
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, a))
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, b))
	must(t, "QueueSETs", s.QueueSETs(ctx, a.ID, 0, 0, []mayfly.QueuedSET{queued("set-1", t0), queued("set-2", t0)}))

	// All or none: the new SET and the cursor move go with the duplicate.
	wantErr(t, "QueueSETs of a jti the stream holds", s.QueueSETs(ctx, a.ID, 0, 4, []mayfly.QueuedSET{queued("set-3", t0), queued("set-1", t0)}), mayfly.ErrConflict)
	wantErr(t, "QueueSETs of one jti twice", s.QueueSETs(ctx, a.ID, 0, 0, []mayfly.QueuedSET{queued("set-4", t0), queued("set-4", t0)}), mayfly.ErrConflict)
	wantJTIs(t, "PendingSETs after refused duplicates", pendingJTIs(t, s, a.ID, t0, 0), []string{"set-1", "set-2"})
	if c := mustStream(t, s, a.ID).Cursor; c != 0 {
		t.Errorf("cursor after a refused QueueSETs: got %d, want 0", c)
	}
	// A jti is unique within a stream, not across streams.
	must(t, "QueueSETs of another stream's jti", s.QueueSETs(ctx, b.ID, 0, 0, []mayfly.QueuedSET{queued("set-1", t0)}))
	wantJTIs(t, "PendingSETs of the other stream", pendingJTIs(t, s, b.ID, t0, 0), []string{"set-1"})
}

func testSSFPending(t *testing.T, s SSFStore) {
	ctx := t.Context()
	a, b := bareStream("ssf-a", t0), bareStream("ssf-b", t0)
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, a))
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, b))
	// jtis out of order, so that queue order cannot be jti order.
	e := queued("set-e", t0.Add(fine).In(zone))
	c := queued("set-c", t0.Add(time.Second))
	c.Attempts, c.NextAttempt = 2, t0.Add(time.Hour+fine) // carried over: not yet due
	x := queued("set-x", t0.Add(2*time.Second))
	x.Claims = []byte{0x00, 0xff, '{', '}'} // bytes, kept as they are
	must(t, "QueueSETs", s.QueueSETs(ctx, a.ID, 0, 2, []mayfly.QueuedSET{e, c, x}))
	must(t, "QueueSETs to another stream", s.QueueSETs(ctx, b.ID, 0, 0, []mayfly.QueuedSET{queued("set-b", t0)}))
	aa := queued("set-a", t0.Add(3*time.Second))
	aa.NextAttempt = t0 // due at once
	d := queued("set-d", t0.Add(4*time.Second))
	must(t, "QueueSETs", s.QueueSETs(ctx, a.ID, 2, 3, []mayfly.QueuedSET{aa, d}))

	diffList(t, "PendingSETs(t0)", pending(t, s, a.ID, t0, 10), inStream(a.ID, e, x, aa, d), diffQueued)
	diffList(t, "PendingSETs(t0, limit 2)", pending(t, s, a.ID, t0, 2), inStream(a.ID, e, x), diffQueued)
	diffList(t, "PendingSETs(t0, no limit)", pending(t, s, a.ID, t0, 0), inStream(a.ID, e, x, aa, d), diffQueued)
	diffList(t, "PendingSETs(before t0)", pending(t, s, a.ID, t0.Add(-time.Microsecond), 10), inStream(a.ID, e, x, d), diffQueued)
	// NextAttempt is not after now: due at that instant, in any zone, and
	// in its place in the queue.
	diffList(t, "PendingSETs(as set-c falls due)", pending(t, s, a.ID, c.NextAttempt.In(zone), 10), inStream(a.ID, e, c, x, aa, d), diffQueued)
	diffList(t, "PendingSETs(as set-c falls due, limit 2)", pending(t, s, a.ID, c.NextAttempt, 2), inStream(a.ID, e, c), diffQueued)
	diffList(t, "PendingSETs of the other stream", pending(t, s, b.ID, t0, 10), inStream(b.ID, queued("set-b", t0)), diffQueued)
	// Times beyond what int64 nanoseconds hold still compare as times.
	diffList(t, "PendingSETs(far future)", pending(t, s, a.ID, time.Unix(1<<40, 0), 10), inStream(a.ID, e, c, x, aa, d), diffQueued)
	diffList(t, "PendingSETs(far past)", pending(t, s, a.ID, time.Unix(-1<<40, 0), 10), inStream(a.ID, e, x, d), diffQueued)
}

func testSSFAck(t *testing.T, s SSFStore) {
	ctx := t.Context()
	a, b := bareStream("ssf-a", t0), bareStream("ssf-b", t0)
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, a))
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, b))
	sets := []mayfly.QueuedSET{queued("set-a", t0), queued("set-b", t0), queued("set-c", t0), queued("set-d", t0)}
	must(t, "QueueSETs", s.QueueSETs(ctx, a.ID, 0, 0, sets))
	must(t, "QueueSETs", s.QueueSETs(ctx, b.ID, 0, 0, sets[:2]))

	if n, err := s.SSFQueueLength(ctx, a.ID); n != 4 || err != nil {
		t.Errorf("SSFQueueLength: %d, %v; want 4, nil", n, err)
	}
	if n, err := s.SSFQueueLength(ctx, "ssf-nobody"); n != 0 || err != nil {
		t.Errorf("SSFQueueLength of a missing stream: %d, %v; want 0, nil", n, err)
	}
	n, err := s.AckSETs(ctx, a.ID, []string{"set-b", "set-unknown", "set-d", "set-b"})
	if n != 2 || err != nil {
		t.Errorf("AckSETs(set-b, set-unknown, set-d, set-b): %d, %v; want 2, nil", n, err)
	}
	wantJTIs(t, "PendingSETs after AckSETs", pendingJTIs(t, s, a.ID, t0, 0), []string{"set-a", "set-c"})
	wantJTIs(t, "PendingSETs of the other stream", pendingJTIs(t, s, b.ID, t0, 0), []string{"set-a", "set-b"})
	if n, err := s.AckSETs(ctx, a.ID, []string{"set-b"}); n != 0 || err != nil {
		t.Errorf("AckSETs of an acknowledged SET: %d, %v; want 0, nil", n, err)
	}
	if n, err := s.AckSETs(ctx, a.ID, nil); n != 0 || err != nil {
		t.Errorf("AckSETs of nothing: %d, %v; want 0, nil", n, err)
	}
	if n, err := s.AckSETs(ctx, a.ID, []string{"set-a", "set-c"}); n != 2 || err != nil {
		t.Errorf("AckSETs of the rest: %d, %v; want 2, nil", n, err)
	}
	wantJTIs(t, "PendingSETs after acknowledging everything", pendingJTIs(t, s, a.ID, t0, 0), nil)
	if n, err := s.SSFQueueLength(ctx, b.ID); n != 2 || err != nil {
		t.Errorf("SSFQueueLength of the other stream: %d, %v; want 2, nil", n, err)
	}
}

func testSSFDefer(t *testing.T, s SSFStore) {
	ctx := t.Context()
	st := bareStream("ssf-1", t0)
	must(t, "CreateSSFStream", do(t, s, s.CreateSSFStream, st))
	a, b, c := queued("set-a", t0), queued("set-b", t0), queued("set-c", t0)
	must(t, "QueueSETs", s.QueueSETs(ctx, st.ID, 0, 1, []mayfly.QueuedSET{a, b, c}))

	next := t0.Add(time.Minute + fine).In(zone)
	must(t, "DeferSET", s.DeferSET(ctx, st.ID, b.JTI, 1, next))
	wantB := b
	wantB.Attempts, wantB.NextAttempt = 1, next
	diffList(t, "PendingSETs before set-b is due", pending(t, s, st.ID, t0, 0), inStream(st.ID, a, c), diffQueued)
	diffList(t, "PendingSETs just before set-b is due", pending(t, s, st.ID, next.Add(-time.Microsecond), 0), inStream(st.ID, a, c), diffQueued)
	diffList(t, "PendingSETs as set-b falls due", pending(t, s, st.ID, next, 0), inStream(st.ID, a, wantB, c), diffQueued)

	// A second failure replaces both.
	later := t0.Add(time.Hour)
	must(t, "DeferSET again", s.DeferSET(ctx, st.ID, b.JTI, 2, later))
	wantB.Attempts, wantB.NextAttempt = 2, later
	diffList(t, "PendingSETs after the second DeferSET, at the first retry time", pending(t, s, st.ID, next, 0), inStream(st.ID, a, c), diffQueued)
	diffList(t, "PendingSETs as set-b falls due again", pending(t, s, st.ID, later, 0), inStream(st.ID, a, wantB, c), diffQueued)
	if cur := mustStream(t, s, st.ID).Cursor; cur != 1 {
		t.Errorf("cursor after DeferSET: got %d, want 1", cur)
	}
}

// testSSFCursorRace runs within one handle what CoordinationShared runs
// across two.
func testSSFCursorRace(t *testing.T, s SSFStore) { testSharedSSFCursor(t, s, s) }

// testSharedSSFCursor has writers on both handles move a stream's cursor
// from the same place at once, as replicas turning the same revocations
// into events do: each round exactly one wins, and only its SETs are queued.
func testSharedSSFCursor(t *testing.T, a, b SSFStore) {
	ctx := t.Context()
	st := bareStream("ssf-race", t0)
	must(t, "CreateSSFStream", do(t, a, a.CreateSSFStream, st))
	const rounds, writers = 10, 4
	var want []string
	for r := range rounds {
		from, to := int64(r*10), int64(r*10+10)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			s := []SSFStore{a, b}[i%2]
			wg.Go(func() {
				<-start
				errs[i] = s.QueueSETs(ctx, st.ID, from, to, []mayfly.QueuedSET{
					queued(fmt.Sprintf("set-%d-%d-1", r, i), t0), queued(fmt.Sprintf("set-%d-%d-2", r, i), t0)})
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("round %d: writers %d and %d both moved the cursor from %d", r, won, i, from)
			case err == nil:
				won = i
			case !errors.Is(err, mayfly.ErrConflict):
				t.Fatalf("round %d: QueueSETs: %v; want nil or ErrConflict", r, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no writer moved the cursor from %d", r, from)
		}
		want = append(want, fmt.Sprintf("set-%d-%d-1", r, won), fmt.Sprintf("set-%d-%d-2", r, won))
	}
	wantJTIs(t, "PendingSETs after the race", pendingJTIs(t, b, st.ID, t0, 0), want)
	if c := mustStream(t, b, st.ID).Cursor; c != rounds*10 {
		t.Errorf("cursor after the race: got %d, want %d", c, rounds*10)
	}
}
