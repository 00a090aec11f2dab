package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// Day unions (mayfly.LedgerUnion). A day's unions are made in one
// transaction from its buckets, holding the day's lock (Config.XactLock)
// that every merge into the day holds shared (Config.XactLockShared)
// until it has deleted the day's unions: no merge changes the day while
// its unions are made, and none that changed it leaves them standing.

const daySecs = int64(mayfly.LedgerDay / time.Second)

// unionGather bounds the IDs each union gathers before adding them: a day
// may have a union for each of hundreds of values being made at once.
const unionGather = 1 << 17

type unionKey struct{ ns, dim, value string }

func compareUnionKeys(a, b unionKey) int {
	return cmp.Or(strings.Compare(a.dim, b.dim), strings.Compare(a.value, b.value), strings.Compare(a.ns, b.ns))
}

func dayLock(day int64) string { return "ledger.day/" + strconv.FormatInt(day, 10) }

// lockDays takes the locks of days, in order: shared by a merge, alone by
// a union's maker.
func (s *Store) lockDays(t *Tx, days []int64, shared bool) error {
	lock := s.cfg.XactLock
	if shared {
		lock = s.cfg.XactLockShared
	}
	if lock == nil {
		return nil
	}
	slices.Sort(days)
	for _, d := range slices.Compact(days) {
		q, args := lock(dayLock(d))
		if _, err := t.conn.Exec(t.ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) UniteLedgerDay(tx mayfly.Tx, day time.Time, min int) (bool, error) {
	const op = "UniteLedgerDay"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return false, err
	}
	if day.UnixNano()%int64(mayfly.LedgerDay) != 0 {
		return false, &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Invalid, Field: "day",
			Msg: fmt.Sprintf("a day union's day is a UTC midnight, not %s", day.UTC().Format(time.RFC3339))}
	}
	min = max(min, 1)
	d := day.Unix()
	if err := s.lockDays(t, []int64{d}, false); err != nil {
		return false, s.err(op, err)
	}
	// First what the buckets say of themselves, to list each union's;
	// then the records of the buckets in a union that keeps them.
	meta := `SELECT ` + strings.Replace(ledgerCols, "records, requests", "NULL AS records, requests", 1) +
		` FROM ledger_buckets WHERE start >= ? AND start < ? ORDER BY start, width, jti, digest, namespace`
	bs, err := queryAll(t.ctx, t.conn, scanLedgerRaw, meta, d, d+daySecs)
	if err != nil {
		return false, s.err(op, err)
	}
	members := map[unionKey][]*mayfly.LedgerBucket{}
	for i := range bs {
		if bs[i].Width != mayfly.LedgerDay {
			return false, nil // not rolled into days yet
		}
		for _, k := range unionKeys(&bs[i]) {
			members[k] = append(members[k], &bs[i])
		}
	}
	unions := map[unionKey]*recordset.Gather{}
	for k, m := range members {
		if len(m) >= min && k.ns != "" && k.value != mayfly.LedgerUnionMore {
			unions[k] = recordset.NewGatherOf(unionGather)
		}
	}
	if len(unions) > 0 {
		var buf []uint64
		q := `SELECT ` + ledgerCols + ` FROM ledger_buckets WHERE start >= ? AND start < ?`
		_, err := queryAll(t.ctx, t.conn, func(r Row) (struct{}, error) {
			b, err := scanLedgerRaw(r)
			if err != nil {
				return struct{}{}, err
			}
			var in []*recordset.Gather
			for _, k := range unionKeys(&b) {
				if g := unions[k]; g != nil {
					in = append(in, g)
				}
			}
			if len(in) == 0 {
				return struct{}{}, nil
			}
			if buf, err = recordset.DecodeAppend(buf[:0], b.Records, 1<<20); err == nil {
				for _, g := range in {
					g.AddIDs(buf)
				}
				return struct{}{}, nil
			}
			rb, err := DecodeRecords(b.Records)
			if err != nil {
				return struct{}{}, fmt.Errorf("ledger bucket %v: %w", keyOf(&b), err)
			}
			for _, g := range in {
				g.AddBitmap(rb)
			}
			return struct{}{}, nil
		}, q, d, d+daySecs)
		if err != nil {
			return false, s.err(op, err)
		}
	}
	if _, err := t.conn.Exec(t.ctx, `DELETE FROM ledger_unions WHERE day = ?`, d); err != nil {
		return false, s.err(op, err)
	}
	keys := make([]unionKey, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUnionKeys)
	// Rows of small unions go many to a statement; a union with records
	// goes alone, as its records may be large.
	const cols = `INSERT INTO ledger_unions (day, namespace, dim, value, bucket_count, buckets, records) VALUES `
	var (
		q    strings.Builder
		args []any
	)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := t.conn.Exec(t.ctx, q.String(), args...)
		q.Reset()
		args = args[:0]
		return err
	}
	for _, k := range keys {
		var recs []byte
		if g := unions[k]; g != nil {
			if recs, err = EncodeRecords(g.Bitmap()); err != nil {
				return false, s.err(op, err)
			}
			delete(unions, k) // its memory goes as it is written
		}
		if len(args) == 0 {
			q.WriteString(cols)
		} else {
			q.WriteString(", ")
		}
		q.WriteString(`(?, ?, ?, ?, ?, ?, ?)`)
		args = append(args, d, k.ns, k.dim, k.value, len(members[k]), encodeMembers(members[k]), recs)
		if recs != nil || len(args) >= 7*64 {
			if err := flush(); err != nil {
				return false, s.err(op, err)
			}
		}
	}
	if err := flush(); err != nil {
		return false, s.err(op, err)
	}
	var services []string
	servicesMore := false
	for i := range bs {
		services = append(services, bs[i].Services...)
		servicesMore = servicesMore || bs[i].ServicesMore
	}
	slices.Sort(services)
	if _, err := t.conn.Exec(t.ctx, `INSERT INTO ledger_union_days (day, services, services_more, version) VALUES (?, ?, ?, ?)
		ON CONFLICT (day) DO UPDATE SET services = excluded.services, services_more = excluded.services_more, version = excluded.version`,
		d, encodeList(slices.Compact(services)), servicesMore, unionVersion); err != nil {
		return false, s.err(op, err)
	}
	return true, nil
}

// unionKeys lists the unions a bucket belongs to.
func unionKeys(b *mayfly.LedgerBucket) []unionKey {
	var out []unionKey
	for _, dim := range mayfly.LedgerUnionDims {
		for _, v := range mayfly.LedgerUnionKeys(b, dim) {
			out = append(out, unionKey{b.Namespace, dim, v})
		}
	}
	return out
}

// A union's buckets, encoded: for each, in the order of their keys, its
// jti, digest, kid, client, principal and subject, its request and
// refusal counts, and its services and sources with their flags; the
// namespace, start and width are the union's. Strings are a uvarint
// length and the bytes.
func encodeMembers(bs []*mayfly.LedgerBucket) []byte {
	var b []byte
	str := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	list := func(vs []string, more bool) {
		n := uint64(len(vs)) << 1
		if more {
			n |= 1
		}
		b = binary.AppendUvarint(b, n)
		for _, v := range vs {
			str(v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(bs)))
	for _, m := range bs {
		for _, v := range []string{m.Token.JTI, m.Token.Digest, m.Token.KID, m.Token.ClientID, m.Token.PrincipalID, m.Token.Subject} {
			str(v)
		}
		b = binary.AppendUvarint(b, uint64(m.Requests))
		b = binary.AppendUvarint(b, uint64(m.Refusals))
		list(m.Services, m.ServicesMore)
		list(m.Sources, m.SourcesMore)
	}
	return b
}

var errMembers = errors.New("a ledger union's bucket list does not decode")

// decodeMembers decodes a union's buckets. Their strings are cut from one
// copy of b, and their lists from one slice: a string or a list of its
// own per field cost two thirds of the decoding (BENCHMARKS.md "Scope").
func decodeMembers(b []byte, u *mayfly.LedgerUnion) ([]mayfly.LedgerBucket, error) {
	all := string(b)
	off, ok := 0, true
	uv := func() uint64 {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 {
			ok = false
			return 0
		}
		off += n
		return v
	}
	str := func() string {
		n := uv()
		if n > uint64(len(b)-off) {
			ok = false
			return ""
		}
		v := all[off : off+int(n)]
		off += int(n)
		return v
	}
	var slab []string
	list := func() ([]string, bool) {
		n := uv()
		k := n >> 1
		if k > uint64(len(b)-off) {
			ok = false
			return nil, false
		}
		if k == 0 {
			return nil, n&1 == 1
		}
		if uint64(cap(slab)-len(slab)) < k {
			slab = make([]string, 0, max(k, 1024))
		}
		vs := slab[len(slab) : len(slab)+int(k) : len(slab)+int(k)]
		slab = slab[:len(slab)+int(k)]
		for i := range vs {
			vs[i] = str()
		}
		return vs, n&1 == 1
	}
	// A bucket takes at least 10 bytes: six lengths, two counts, two
	// lists' lengths.
	n := uv()
	if n > uint64(len(b)-off)/10 {
		return nil, errMembers
	}
	out := make([]mayfly.LedgerBucket, n)
	for i := range out {
		m := &out[i]
		m.Start, m.Width, m.Namespace = u.Day, mayfly.LedgerDay, u.Namespace
		m.Token.JTI, m.Token.Digest, m.Token.KID = str(), str(), str()
		m.Token.ClientID, m.Token.PrincipalID, m.Token.Subject = str(), str(), str()
		m.Requests, m.Refusals = int64(uv()), int64(uv())
		m.Services, m.ServicesMore = list()
		m.Sources, m.SourcesMore = list()
		if !ok {
			return nil, errMembers
		}
	}
	if !ok || off != len(b) {
		return nil, errMembers
	}
	return out, nil
}

// dropUnions deletes the unions of every day the buckets overlap, under
// the days' shared locks.
func (s *Store) dropUnions(t *Tx, ds []*ledgerDelta) error {
	days := make([]int64, 0, 1)
	for _, d := range ds {
		start := d.b.Start.Unix()
		for day := floorDiv(start, daySecs); day*daySecs < start+int64(d.b.Width/time.Second); day++ {
			if n := len(days); n == 0 || days[n-1] != day*daySecs {
				days = append(days, day*daySecs)
			}
		}
	}
	slices.Sort(days)
	days = slices.Compact(days)
	if err := s.lockDays(t, days, true); err != nil {
		return err
	}
	in := `(?` + strings.Repeat(", ?", len(days)-1) + `)`
	args := make([]any, len(days))
	for i, d := range days {
		args[i] = d
	}
	if _, err := t.conn.Exec(t.ctx, `DELETE FROM ledger_union_days WHERE day IN `+in, args...); err != nil {
		return err
	}
	_, err := t.conn.Exec(t.ctx, `DELETE FROM ledger_unions WHERE day IN `+in, args...)
	return err
}

func (s *Store) LedgerUnionDays(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	where, args := unionDaysWithin(from, to)
	days, err := queryAll(ctx, s.cfg.Scan, func(r Row) (time.Time, error) {
		var d int64
		err := r.Scan(&d)
		return time.Unix(d, 0).UTC(), err
	}, `SELECT day FROM ledger_union_days WHERE `+where+` ORDER BY day`, args...)
	return days, s.err("LedgerUnionDays", err)
}

// unionVersion is the version of the unions UniteLedgerDay makes. 1 has
// the services' unions and the LedgerUnionMore lists (migration 19). A
// day made by an older Mayfly, which writes none (0), is not made for
// this one: it is neither listed nor read, and maintenance makes it again.
const unionVersion = 1

// unionDaysWithin is the condition on ledger_union_days of the days made
// at unionVersion that lie within [from, to) (zero: unbounded).
func unionDaysWithin(from, to time.Time) (string, []any) {
	where, args := `version = ?`, []any{unionVersion}
	if !from.IsZero() {
		where, args = where+` AND day >= ?`, append(args, ceilDiv(from.UnixNano(), int64(mayfly.LedgerDay))*daySecs)
	}
	if !to.IsZero() {
		where, args = where+` AND day <= ?`, append(args, to.Unix()-daySecs)
	}
	return where, args
}

// ceilDiv is a / b rounded up.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func (s *Store) LedgerUnions(ctx context.Context, f mayfly.LedgerUnionFilter) ([]mayfly.LedgerUnion, error) {
	const op = "LedgerUnions"
	cols := `d.day, COALESCE(u.namespace, ''), COALESCE(u.dim, ''), COALESCE(u.value, ''), COALESCE(u.bucket_count, -1)`
	for _, c := range []struct {
		col  string
		want bool
	}{{"u.buckets", f.Buckets}, {"u.records", f.Records}} {
		if c.want && s.cfg.KeepsBlobs {
			// A value of another type would be handed over in a buffer
			// that the next row reuses.
			cols += ", CAST(" + c.col + " AS BLOB)"
		} else if c.want {
			cols += ", " + c.col
		} else {
			cols += ", NULL"
		}
	}
	// The day's row, joined with its unions: one statement, so that the
	// unions read are those of a day whose unions are made, and a day
	// without them is told from a day without those values.
	q := `SELECT ` + cols + ` FROM ledger_union_days d LEFT JOIN ledger_unions u ON u.day = d.day AND u.dim = ?`
	args := []any{f.Dim}
	for _, c := range []struct {
		col string
		vs  []string
	}{{"u.value", f.Values}, {"u.namespace", f.Namespaces}} {
		if c.vs == nil {
			continue
		}
		if len(c.vs) == 0 {
			return nil, nil
		}
		q += ` AND ` + c.col + ` IN (?` + strings.Repeat(", ?", len(c.vs)-1) + `)`
		for _, v := range c.vs {
			args = append(args, v)
		}
	}
	q += ` WHERE d.day = ? AND d.version = ? ORDER BY u.value, u.namespace`
	args = append(args, f.Day.Unix(), unionVersion)
	made := false
	us, err := queryAll(ctx, s.cfg.Scan, func(r Row) (mayfly.LedgerUnion, error) {
		var u mayfly.LedgerUnion
		var d int64
		var members []byte
		if s.cfg.KeepsBlobs {
			var m, recs sql.RawBytes
			if err := r.Scan(&d, &u.Namespace, &u.Dim, &u.Value, &u.Count, &m, &recs); err != nil {
				return u, err
			}
			members, u.Records = m, recs
		} else if err := r.Scan(&d, &u.Namespace, &u.Dim, &u.Value, &u.Count, &members, &u.Records); err != nil {
			return u, err
		}
		made = true
		u.Day = time.Unix(d, 0).UTC()
		if f.Buckets && u.Count >= 0 {
			bs, err := decodeMembers(members, &u)
			if err != nil || len(bs) != u.Count {
				return u, fmt.Errorf("ledger union %s %s=%q on %s: %w", u.Namespace, u.Dim, u.Value, u.Day.Format(time.DateOnly), errMembers)
			}
			u.Buckets = bs
		}
		return u, nil
	}, q, args...)
	if err != nil {
		return nil, s.err(op, err)
	}
	if !made {
		return nil, &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.NotFound,
			Msg: fmt.Sprintf("the ledger's unions of %s are not made", f.Day.UTC().Format(time.DateOnly))}
	}
	// The day's row alone: it has no union of these values.
	return slices.DeleteFunc(us, func(u mayfly.LedgerUnion) bool { return u.Count < 0 }), nil
}
