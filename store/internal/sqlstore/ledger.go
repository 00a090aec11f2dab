package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// The access ledger. A merge is one upsert per chunk of buckets, in key
// order, that adds the counts in SQL and returns each bucket's stored
// records and sets; the unions of those with the deltas that differ are
// written back by a second upsert, one statement for the chunk. The upsert locks each bucket (PostgreSQL: the
// row; SQLite: the one writer) until the transaction ends, so a merge
// never writes back a union made from a stale read, and taking locks in
// key order (mayfly.CompareLedgerBuckets) keeps concurrent merges and
// compactions from deadlocking.

const ledgerCols = `width, start, jti, digest, namespace, kid, client_id, principal_id, subject,
	records, requests, refusals, services, services_more, sources, sources_more`

// ledgerChunk is how many buckets one statement carries: 16 arguments each,
// well under both databases' limits.
const ledgerChunk = 256

// ledgerDelta is a normalised delta: its records decoded.
type ledgerDelta struct {
	b   mayfly.LedgerBucket
	set ledgerRecords
}

// ledgerRecords are a bucket's records, decoded: as sorted IDs where
// recordset reads them, which is most buckets and far cheaper for
// scattered IDs (roaring64 allocates a container for nearly each), else
// as a roaring64 bitmap (one recordset refuses, or of more than fastIDs).
// Both encode to the same bytes.
type ledgerRecords struct {
	ids []uint64
	rb  *roaring64.Bitmap // the records if not nil; ids are unused then
}

// fastIDs bounds the records kept as IDs: 8 MiB of them.
const fastIDs = 1 << 20

func decodeLedgerRecords(b []byte) (ledgerRecords, error) {
	if len(b) <= mayfly.LedgerMaxRecordsBytes {
		if ids, err := recordset.Decode(b, fastIDs); err == nil {
			return ledgerRecords{ids: ids}, nil
		}
	}
	rb, err := DecodeRecords(b)
	return ledgerRecords{rb: rb}, err
}

func (r *ledgerRecords) bitmap() *roaring64.Bitmap {
	if r.rb == nil {
		r.rb = roaring64.New()
		r.rb.AddMany(r.ids)
		r.ids = nil
	}
	return r.rb
}

// union adds o to r, and reports whether that changed r.
func (r *ledgerRecords) union(o ledgerRecords) bool {
	if r.rb == nil && o.rb == nil {
		n := len(r.ids)
		r.ids = recordset.Union(r.ids, o.ids)
		if len(r.ids) > fastIDs {
			r.bitmap()
		}
		return len(r.ids) != n
	}
	before := r.bitmap().GetCardinality()
	r.rb.Or(o.bitmap())
	return r.rb.GetCardinality() != before
}

func (r *ledgerRecords) encode() ([]byte, error) {
	if r.rb == nil {
		return recordset.Encode(r.ids), nil
	}
	return EncodeRecords(r.rb)
}

func (s *Store) MergeLedger(tx mayfly.Tx, deltas []mayfly.LedgerBucket) error {
	const op = "MergeLedger"
	t, err := TxOf(s, tx, op)
	if err != nil || len(deltas) == 0 {
		return err
	}
	ds, err := normaliseDeltas(deltas)
	if err != nil {
		return s.opErr(op, err)
	}
	return s.opErr(op, s.mergeLedger(t, ds))
}

// opErr gives err the operation op, keeping a mayfly error's code.
func (s *Store) opErr(op string, err error) error {
	if e, ok := err.(*mayfly.Error); ok && e.Op == "" {
		e.Op = s.cfg.Name + "." + op
		return e
	}
	return s.err(op, err)
}

// normaliseDeltas checks deltas, decodes their records, joins those of one
// key, and sorts them by key.
func normaliseDeltas(deltas []mayfly.LedgerBucket) ([]*ledgerDelta, error) {
	out := make([]*ledgerDelta, 0, len(deltas))
	for i := range deltas {
		d := deltas[i]
		if err := d.Check(); err != nil {
			return nil, err
		}
		set, err := decodeLedgerRecords(d.Records)
		if err != nil {
			return nil, &mayfly.Error{Code: mayfly.Invalid, Field: "records", Msg: "a ledger bucket's records do not decode", Err: err}
		}
		d.Services, d.ServicesMore = boundedUnion(d.Services, nil, d.ServicesMore, false, mayfly.LedgerMaxServices)
		d.Sources, d.SourcesMore = boundedUnion(d.Sources, nil, d.SourcesMore, false, mayfly.LedgerMaxSources)
		out = append(out, &ledgerDelta{b: d, set: set})
	}
	slices.SortStableFunc(out, func(a, b *ledgerDelta) int { return mayfly.CompareLedgerBuckets(&a.b, &b.b) })
	joined := out[:0]
	for _, d := range out {
		if n := len(joined); n > 0 && mayfly.SameLedgerBucket(&joined[n-1].b, &d.b) {
			joined[n-1].add(d)
			continue
		}
		joined = append(joined, d)
	}
	for _, d := range joined {
		var err error
		if d.b.Records, err = d.set.encode(); err != nil {
			return nil, err
		}
	}
	return joined, nil
}

// add adds o, a delta of the same key, to d; d's token claims win.
func (d *ledgerDelta) add(o *ledgerDelta) {
	d.set.union(o.set)
	d.b.Requests += o.b.Requests
	d.b.Refusals += o.b.Refusals
	d.b.Services, d.b.ServicesMore = boundedUnion(d.b.Services, o.b.Services, d.b.ServicesMore, o.b.ServicesMore, mayfly.LedgerMaxServices)
	d.b.Sources, d.b.SourcesMore = boundedUnion(d.b.Sources, o.b.Sources, d.b.SourcesMore, o.b.SourcesMore, mayfly.LedgerMaxSources)
	for _, c := range []struct {
		dst *string
		src string
	}{{&d.b.Token.KID, o.b.Token.KID}, {&d.b.Token.ClientID, o.b.Token.ClientID},
		{&d.b.Token.PrincipalID, o.b.Token.PrincipalID}, {&d.b.Token.Subject, o.b.Token.Subject}} {
		if *c.dst == "" {
			*c.dst = c.src
		}
	}
}

func boundedUnion(a, b []string, aMore, bMore bool, max int) ([]string, bool) {
	u, more := mayfly.BoundedUnion(a, b, max)
	return u, more || aMore || bMore
}

// ledgerKey is a bucket's key as stored.
type ledgerKey struct {
	width, start           int64
	jti, digest, namespace string
}

func keyOf(b *mayfly.LedgerBucket) ledgerKey {
	return ledgerKey{int64(b.Width / time.Second), b.Start.Unix(), b.Token.JTI, b.Token.Digest, b.Namespace}
}

// mergeLedger merges normalised deltas, sorted by key, in t, and then
// deletes the day unions they make stale.
func (s *Store) mergeLedger(t *Tx, ds []*ledgerDelta) error {
	if err := s.mergeBuckets(t, ds); err != nil || len(ds) == 0 {
		return err
	}
	return s.dropUnions(t, ds)
}

func (s *Store) mergeBuckets(t *Tx, ds []*ledgerDelta) error {
	for chunk := range slices.Chunk(ds, ledgerChunk) {
		var q strings.Builder
		q.WriteString(`INSERT INTO ledger_buckets (` + ledgerCols + `) VALUES `)
		args := make([]any, 0, 16*len(chunk))
		byKey := make(map[ledgerKey]*ledgerDelta, len(chunk))
		for i, d := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			b := &d.b
			k := keyOf(b)
			byKey[k] = d
			args = append(args, k.width, k.start, k.jti, k.digest, k.namespace, b.Token.KID, b.Token.ClientID, b.Token.PrincipalID,
				b.Token.Subject, b.Records, b.Requests, b.Refusals, encodeList(b.Services), b.ServicesMore, encodeList(b.Sources), b.SourcesMore)
		}
		q.WriteString(` ON CONFLICT (width, start, jti, digest, namespace) DO UPDATE SET
			requests = ledger_buckets.requests + excluded.requests,
			refusals = ledger_buckets.refusals + excluded.refusals`)
		for _, c := range []string{"kid", "client_id", "principal_id", "subject"} {
			fmt.Fprintf(&q, `, %[1]s = CASE WHEN ledger_buckets.%[1]s = '' THEN excluded.%[1]s ELSE ledger_buckets.%[1]s END`, c)
		}
		q.WriteString(` RETURNING ` + ledgerCols)
		rows, err := queryAll(t.ctx, t.conn, scanStoredLedger, q.String(), args...)
		if err != nil {
			return err
		}
		if len(rows) != len(chunk) {
			return fmt.Errorf("merging %d ledger buckets returned %d", len(chunk), len(rows))
		}
		// Write back the unions that differ from what is stored, all in
		// one statement; a new bucket holds its delta already.
		slices.SortFunc(rows, func(a, b storedLedger) int { return compareKeys(a.k, b.k) })
		var (
			back  strings.Builder
			bargs []any
		)
		for _, r := range rows {
			d := byKey[r.k]
			if d == nil {
				return fmt.Errorf("merging ledger buckets returned a bucket not merged: %v", r.k)
			}
			if bytes.Equal(r.records, d.b.Records) && r.services == encodeList(d.b.Services) && r.sources == encodeList(d.b.Sources) &&
				r.servicesMore == d.b.ServicesMore && r.sourcesMore == d.b.SourcesMore {
				continue // a new bucket, or one the delta adds nothing to
			}
			set, err := decodeLedgerRecords(r.records)
			if err != nil {
				return fmt.Errorf("ledger bucket %v: %w", r.k, err)
			}
			services, err1 := decodeList(r.services)
			sources, err2 := decodeList(r.sources)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("ledger bucket %v: stored sets: %w", r.k, err)
			}
			grew := set.union(d.set)
			newServices, servicesMore := boundedUnion(services, d.b.Services, r.servicesMore, d.b.ServicesMore, mayfly.LedgerMaxServices)
			newSources, sourcesMore := boundedUnion(sources, d.b.Sources, r.sourcesMore, d.b.SourcesMore, mayfly.LedgerMaxSources)
			if !grew && slices.Equal(newServices, services) && slices.Equal(newSources, sources) &&
				servicesMore == r.servicesMore && sourcesMore == r.sourcesMore {
				continue
			}
			records, err := set.encode()
			if err != nil {
				return err
			}
			if len(bargs) == 0 {
				back.WriteString(`INSERT INTO ledger_buckets (` + ledgerCols + `) VALUES `)
			} else {
				back.WriteString(", ")
			}
			back.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			// The whole row, as stored but for the unions: the row is
			// there, and locked, so only the update below happens.
			bargs = append(bargs, r.k.width, r.k.start, r.k.jti, r.k.digest, r.k.namespace, r.kid, r.clientID, r.principalID,
				r.subject, records, r.requests, r.refusals, encodeList(newServices), servicesMore, encodeList(newSources), sourcesMore)
		}
		if len(bargs) == 0 {
			continue
		}
		back.WriteString(` ON CONFLICT (width, start, jti, digest, namespace) DO UPDATE SET records = excluded.records,
			services = excluded.services, services_more = excluded.services_more, sources = excluded.sources, sources_more = excluded.sources_more`)
		if _, err := t.conn.Exec(t.ctx, back.String(), bargs...); err != nil {
			return err
		}
	}
	return nil
}

// storedLedger is a bucket as a merge's upsert returns it.
type storedLedger struct {
	k                                   ledgerKey
	kid, clientID, principalID, subject string
	records                             []byte
	requests, refusals                  int64
	services, sources                   string
	servicesMore, sourcesMore           bool
}

func scanStoredLedger(row Row) (storedLedger, error) {
	var r storedLedger
	err := row.Scan(&r.k.width, &r.k.start, &r.k.jti, &r.k.digest, &r.k.namespace, &r.kid, &r.clientID, &r.principalID, &r.subject,
		&r.records, &r.requests, &r.refusals, &r.services, &r.servicesMore, &r.sources, &r.sourcesMore)
	return r, err
}

func compareKeys(a, b ledgerKey) int {
	switch {
	case a.width != b.width:
		return cmpInt(a.width, b.width)
	case a.start != b.start:
		return cmpInt(a.start, b.start)
	case a.jti != b.jti:
		return strings.Compare(a.jti, b.jti)
	case a.digest != b.digest:
		return strings.Compare(a.digest, b.digest)
	}
	return strings.Compare(a.namespace, b.namespace)
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

func scanLedger(row Row) (mayfly.LedgerBucket, error) {
	b, err := scanLedgerRaw(row)
	if err != nil {
		return b, err
	}
	// A bitmap the store cannot decode is damage to report now, not to
	// hand on.
	if _, err := DecodeRecords(b.Records); err != nil {
		return b, fmt.Errorf("ledger bucket %v: %w", keyOf(&b), err)
	}
	return b, nil
}

// scanLedgerRaw reads a bucket, its records as stored.
func scanLedgerRaw(row Row) (mayfly.LedgerBucket, error) {
	var b mayfly.LedgerBucket
	var width, start int64
	var services, sources string
	if err := row.Scan(&width, &start, &b.Token.JTI, &b.Token.Digest, &b.Namespace, &b.Token.KID, &b.Token.ClientID,
		&b.Token.PrincipalID, &b.Token.Subject, &b.Records, &b.Requests, &b.Refusals, &services, &b.ServicesMore, &sources, &b.SourcesMore); err != nil {
		return b, err
	}
	b.Width, b.Start = time.Duration(width)*time.Second, time.Unix(start, 0).UTC()
	var err1, err2 error
	b.Services, err1 = decodeList(services)
	b.Sources, err2 = decodeList(sources)
	if err := errors.Join(err1, err2); err != nil {
		return b, fmt.Errorf("ledger bucket %v: stored sets: %w", keyOf(&b), err)
	}
	return b, nil
}

func (s *Store) LedgerBuckets(ctx context.Context, f mayfly.LedgerFilter) ([]mayfly.LedgerBucket, error) {
	q, args := ledgerQuery(f)
	all, err := queryAll(ctx, s.cfg.Scan, scanLedger, q, args...)
	return all, s.err("LedgerBuckets", err)
}

// ScanLedger streams the buckets LedgerBuckets would return, leaving their
// records undecoded: a scope over the whole retention reads every bucket
// once, and decoding each bitmap twice (here and by the caller) doubled
// its cost.
func (s *Store) ScanLedger(ctx context.Context, f mayfly.LedgerFilter, fn func(*mayfly.LedgerBucket) error) error {
	q, args := ledgerQuery(f)
	if f.NoRecords {
		q = strings.Replace(q, "records, requests", "NULL AS records, requests", 1)
	}
	rows, err := s.cfg.Scan.Query(ctx, q, args...)
	if err != nil {
		return s.err("ScanLedger", err)
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanLedgerRaw(rows)
		if err != nil {
			return s.err("ScanLedger", err)
		}
		if f.NoRecords {
			b.Records = nil
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return s.err("ScanLedger", rows.Err())
}

// ledgerQuery is the query of the buckets f selects, in LedgerBuckets'
// order.
func ledgerQuery(f mayfly.LedgerFilter) (string, []any) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"jti", f.JTI}, {"digest", f.Digest}, {"namespace", f.Namespace},
		{"kid", f.KID}, {"client_id", f.ClientID}, {"principal_id", f.PrincipalID}, {"subject", f.Subject}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	in := func(col string, vs []string) string {
		for _, v := range vs {
			args = append(args, v)
		}
		return col + " IN (?" + strings.Repeat(", ?", len(vs)-1) + ")"
	}
	for _, c := range []struct {
		col string
		vs  []string
	}{{"kid", f.KIDs}, {"client_id", f.ClientIDs}, {"subject", f.Subjects}, {"namespace", f.Namespaces}} {
		if len(c.vs) > 0 {
			where = append(where, in(c.col, c.vs))
		}
	}
	if r := f.Reach; r != nil {
		var any []string
		for _, c := range []struct {
			col string
			vs  []string
		}{{"principal_id", r.PrincipalIDs}, {"client_id", r.ClientIDs}, {"kid", r.KIDs}} {
			if len(c.vs) > 0 {
				any = append(any, in(c.col, c.vs))
			}
		}
		if len(any) == 0 {
			any = []string{"1 = 0"} // reaching nothing
		}
		where = append(where, "("+strings.Join(any, " OR ")+")")
	}
	if f.Width > 0 {
		where, args = append(where, "width = ?"), append(args, int64(f.Width/time.Second))
	}
	if !f.From.IsZero() {
		// With a bound on start an index can use: no bucket is wider
		// than LedgerMaxWidth.
		from := f.From.Unix() // start + width > From, in whole seconds
		where, args = append(where, "start + width > ?", "start > ?"), append(args, from, from-int64(mayfly.LedgerMaxWidth/time.Second))
	}
	if !f.StartFrom.IsZero() {
		where, args = append(where, "start >= ?"), append(args, ceilDiv(f.StartFrom.UnixNano(), int64(time.Second)))
	}
	if !f.To.IsZero() {
		to := f.To.Unix()
		if f.To.Nanosecond() != 0 {
			to++ // a bucket starting within To's second overlaps it
		}
		where, args = append(where, "start < ?"), append(args, to)
	}
	q := `SELECT ` + ledgerCols + ` FROM ledger_buckets`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY start, width, jti, digest, namespace`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return q, args
}

func (s *Store) LedgerRecords(ctx context.Context, b *mayfly.LedgerBucket) ([]byte, error) {
	k := keyOf(b)
	var recs []byte
	err := s.cfg.Scan.QueryRow(ctx, `SELECT records FROM ledger_buckets WHERE width = ? AND start = ? AND jti = ? AND digest = ? AND namespace = ?`,
		k.width, k.start, k.jti, k.digest, k.namespace).Scan(&recs)
	return recs, s.err("LedgerRecords", err)
}

// LedgerServices returns the services that reported in the buckets that
// overlap [from, to), and whether a bucket kept only some of its own: for
// a day whose unions are made, as they were made; for the time between
// such days, from the buckets that start there.
func (s *Store) LedgerServices(ctx context.Context, from, to time.Time) ([]string, bool, error) {
	const op = "LedgerServices"
	type row struct {
		services string
		more     bool
	}
	scan := func(r Row) (row, error) {
		var v row
		return v, r.Scan(&v.services, &v.more)
	}
	where, args := unionDaysWithin(from, to)
	var days []int64
	rows, err := queryAll(ctx, s.cfg.Scan, func(r Row) (row, error) {
		var v row
		var d int64
		err := r.Scan(&d, &v.services, &v.more)
		days = append(days, d)
		return v, err
	}, `SELECT day, services, services_more FROM ledger_union_days WHERE `+where+` ORDER BY day`, args...)
	if err != nil {
		return nil, false, s.err(op, err)
	}
	// The buckets between: those overlapping the window that start
	// before the first such day, between two, or after the last.
	between := func(startFrom, startBefore time.Time) error {
		f := mayfly.LedgerFilter{From: from, To: to, StartFrom: startFrom}
		if !startBefore.IsZero() {
			f.To = startBefore
		}
		q, args := ledgerQuery(f)
		q = strings.Replace(q, `SELECT `+ledgerCols+` FROM`, `SELECT DISTINCT services, services_more FROM`, 1)
		q = q[:strings.LastIndex(q, " ORDER BY")]
		more, err := queryAll(ctx, s.cfg.Scan, scan, q, args...)
		rows = append(rows, more...)
		return err
	}
	var after time.Time
	for _, d := range days {
		day := time.Unix(d, 0).UTC()
		if after.IsZero() || day.After(after) {
			if err := between(after, day); err != nil {
				return nil, false, s.err(op, err)
			}
		}
		after = day.Add(mayfly.LedgerDay)
	}
	if to.IsZero() || after.IsZero() || to.After(after) {
		if err := between(after, time.Time{}); err != nil {
			return nil, false, s.err(op, err)
		}
	}
	var all []string
	more := false
	for _, r := range rows {
		vs, err := decodeList(r.services)
		if err != nil {
			return nil, false, s.err(op, err)
		}
		all = append(all, vs...)
		more = more || r.more
	}
	slices.Sort(all)
	return slices.Compact(all), more, nil
}

func (s *Store) CompactLedger(tx mayfly.Tx, from, to time.Duration, cutoff time.Time, limit int, byCredential bool) (int, error) {
	const op = "CompactLedger"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return 0, err
	}
	if from <= 0 || from%time.Second != 0 || to <= from || to%from != 0 {
		return 0, &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Invalid, Field: "width",
			Msg: fmt.Sprintf("cannot compact buckets of %v into %v: widths are whole seconds, the second a multiple of the first", from, to)}
	}
	if limit <= 0 {
		return 0, nil
	}
	// Deleting the buckets is what claims them: a transaction compacting
	// at once deletes others, or none (PostgreSQL skips the rows another
	// holds; SQLite has one writer), so no bucket is rolled twice.
	fromSecs := int64(from / time.Second)
	old, err := queryAll(t.ctx, t.conn, scanLedger, `DELETE FROM ledger_buckets WHERE (width, start, jti, digest, namespace) IN (
		SELECT width, start, jti, digest, namespace FROM ledger_buckets WHERE width = ? AND start <= ?
		ORDER BY width, start, jti, digest, namespace LIMIT ?`+s.cfg.SkipLocked+`)
		RETURNING `+ledgerCols, fromSecs, cutoff.Unix()-fromSecs, limit)
	if err != nil {
		return 0, s.err(op, err)
	}
	if len(old) == 0 {
		return 0, nil
	}
	var issued map[string][]string
	if byCredential {
		if issued, err = issuedDigests(t, old); err != nil {
			return 0, s.err(op, err)
		}
	}
	deltas := make([]mayfly.LedgerBucket, len(old))
	toSecs := int64(to / time.Second)
	for i, b := range old {
		b.Width = to
		b.Start = time.Unix(floorDiv(b.Start.Unix(), toSecs)*toSecs, 0).UTC()
		if ds, ok := issued[b.Token.JTI]; ok && (b.Token.Digest == "" || slices.Contains(ds, b.Token.Digest) || slices.Contains(ds, "")) {
			b.Token = b.Token.RolledUp()
		}
		deltas[i] = b
	}
	ds, err := normaliseDeltas(deltas)
	if err != nil {
		return 0, s.opErr(op, err)
	}
	if err := s.mergeLedger(t, ds); err != nil {
		return 0, s.opErr(op, err)
	}
	return len(old), nil
}

// issuedDigests returns, by jti, the digests of the issuance records of
// the buckets' tokens: a token without one Mayfly never issued. A digest
// is "" where Mayfly did not keep it, or the report named none; either
// matches, as the jti is all there is to go on.
func issuedDigests(t *Tx, bs []mayfly.LedgerBucket) (map[string][]string, error) {
	jtis := make([]string, 0, len(bs))
	for i := range bs {
		if bs[i].Token.JTI != "" {
			jtis = append(jtis, bs[i].Token.JTI)
		}
	}
	slices.Sort(jtis)
	// Jtis that carry their issue time are looked up within their days,
	// so that a store keeping records by day reads those days only; sorted,
	// a chunk of them spans little time.
	var timed, untimed []string
	for _, j := range slices.Compact(jtis) {
		if _, _, ok := mayfly.JTIWindow(j); ok {
			timed = append(timed, j)
		} else {
			untimed = append(untimed, j)
		}
	}
	out := map[string][]string{}
	for _, set := range [][]string{timed, untimed} {
		for chunk := range slices.Chunk(set, 500) {
			args := make([]any, len(chunk))
			for i, j := range chunk {
				args[i] = j
			}
			q := `SELECT jti, digest FROM issuances WHERE jti IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
			if lo, _, ok := mayfly.JTIWindow(chunk[0]); ok {
				_, hi, _ := mayfly.JTIWindow(chunk[len(chunk)-1])
				q, args = q+` AND iat BETWEEN ? AND ?`, append(args, lo, hi)
			}
			type rec struct{ jti, digest string }
			recs, err := queryAll(t.ctx, t.conn, func(row Row) (rec, error) {
				var r rec
				return r, row.Scan(&r.jti, &r.digest)
			}, q, args...)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				out[r.jti] = append(out[r.jti], r.digest)
			}
		}
	}
	return out, nil
}

// floorDiv is a / b rounded down, for times before the epoch too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (s *Store) PruneLedger(tx mayfly.Tx, before time.Time) (int, error) {
	const op = "PruneLedger"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return 0, err
	}
	secs := before.Unix() // a bucket ends on a whole second
	n, err := t.conn.Exec(t.ctx, `DELETE FROM ledger_buckets WHERE start < ? AND start + width <= ?`, secs, secs)
	if err != nil {
		return 0, s.err(op, err)
	}
	if _, err := t.conn.Exec(t.ctx, `DELETE FROM ledger_gaps WHERE to_time <= ?`, before.UnixNano()); err != nil {
		return 0, s.err(op, err)
	}
	for _, table := range []string{"ledger_unions", "ledger_union_days"} {
		if _, err := t.conn.Exec(t.ctx, `DELETE FROM `+table+` WHERE day <= ?`, secs-daySecs); err != nil {
			return 0, s.err(op, err)
		}
	}
	return int(n), nil
}

func (s *Store) RecordLedgerGaps(tx mayfly.Tx, gaps []*mayfly.LedgerGap) error {
	const op = "RecordLedgerGaps"
	t, err := TxOf(s, tx, op)
	if err != nil || len(gaps) == 0 {
		return err
	}
	for _, g := range gaps {
		if err := g.Check(); err != nil {
			return s.opErr(op, err)
		}
	}
	ids := make([]int64, len(gaps))
	b := &Batch{}
	for i, g := range gaps {
		b.QueryRow(func(row Row) error { return row.Scan(&ids[i]) },
			`INSERT INTO ledger_gaps (service, from_time, to_time, dropped) VALUES (?, ?, ?, ?) RETURNING id`,
			g.Service, g.From.UnixNano(), g.To.UnixNano(), g.Dropped)
	}
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return s.err(op, err)
	}
	for i, g := range gaps {
		g.ID = ids[i]
	}
	return nil
}

func (s *Store) LedgerGaps(ctx context.Context, from, to time.Time) ([]*mayfly.LedgerGap, error) {
	var where []string
	var args []any
	if !from.IsZero() {
		where, args = append(where, "to_time > ?"), append(args, from.UnixNano())
	}
	if !to.IsZero() {
		where, args = append(where, "from_time < ?"), append(args, to.UnixNano())
	}
	q := `SELECT id, service, from_time, to_time, dropped FROM ledger_gaps`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	all, err := queryAll(ctx, s.cfg.Scan, func(row Row) (*mayfly.LedgerGap, error) {
		var g mayfly.LedgerGap
		var f, u int64
		err := row.Scan(&g.ID, &g.Service, &f, &u, &g.Dropped)
		g.From, g.To = time.Unix(0, f).UTC(), time.Unix(0, u).UTC()
		return &g, err
	}, q+` ORDER BY from_time, id`, args...)
	return all, s.err("LedgerGaps", err)
}
