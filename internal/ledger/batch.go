package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// The journal's encoding of a batch, version 1: a version byte, then the
// number of reports, then each report:
//
//	flags        uvarint: 1 refused, 2 time, 4 iat, 8 exp
//	time         varint seconds, uvarint nanoseconds (if flagged)
//	service, method, route, jti, kid, iss, sub, client_id, digest, check
//	             strings
//	source_ip    a byte (0 none, 4 IPv4, 6 IPv6, 7 IPv6 with a zone), its
//	             4 or 16 bytes, the zone as a string
//	iat, exp     as time (if flagged)
//	records      uvarint namespaces, each its name as a string, a kind
//	             byte, and its IDs: kind 0 a uvarint count, the first ID
//	             and the gaps to each next one, uvarints; kind 1 a uvarint
//	             length and a roaring64 bitmap in its portable
//	             serialization
//
// A string is a uvarint: 0 and a uvarint length and the bytes for one not
// seen before in the batch, else 1 + its index among those (the empty
// string is index 0), since a batch's services, routes, keys and tokens
// recur. Gaps suit scattered IDs (a few bytes each, where a bitmap spends
// a container on each); a bitmap suits IDs in runs.

const batchVersion = 1

const (
	flagRefused = 1 << iota
	flagTime
	flagIat
	flagExp
)

const (
	idsGaps   = 0
	idsBitmap = 1
)

// maxJournalIDs bounds the record IDs one journal batch decodes to, so
// that a damaged batch cannot claim more memory than any accepted batch
// needs (ParseReports bounds a batch's IDs at half its bytes).
const maxJournalIDs = 1 << 26

// EncodeBatch encodes verified reports for the ingest journal, which
// keeps each accepted batch until it is in the ledger. A raw token is
// never encoded: only the claims and digest Mayfly took from it.
func EncodeBatch(reports []mayfly.LedgerReport) ([]byte, error) {
	size := 16
	for i := range reports {
		size += 64 // a report's fields, its strings mostly seen before
		for _, ids := range reports[i].Records {
			size += 8 + 5*len(ids) // a gap below 2^35 takes 5 bytes
		}
	}
	e := batchEncoder{strs: map[string]uint64{"": 0}, b: make([]byte, 0, size)}
	e.b = append(e.b, batchVersion)
	e.b = binary.AppendUvarint(e.b, uint64(len(reports)))
	for i := range reports {
		if err := e.report(&reports[i]); err != nil {
			return nil, mayfly.E("ledger.EncodeBatch", err)
		}
	}
	return e.b, nil
}

type batchEncoder struct {
	b    []byte
	strs map[string]uint64
	nss  []string
}

func (e *batchEncoder) report(r *mayfly.LedgerReport) error {
	var flags uint64
	for _, f := range []struct {
		on   bool
		flag uint64
	}{{r.Refused, flagRefused}, {!r.Time.IsZero(), flagTime}, {!r.IssuedAt.IsZero(), flagIat}, {!r.Expires.IsZero(), flagExp}} {
		if f.on {
			flags |= f.flag
		}
	}
	e.b = binary.AppendUvarint(e.b, flags)
	if flags&flagTime != 0 {
		e.time(r.Time)
	}
	for _, s := range []string{r.Service, r.Method, r.Route, r.JTI, r.KID, r.Issuer, r.Subject, r.ClientID, r.Digest, string(r.Check)} {
		e.str(s)
	}
	switch a := r.SourceIP; {
	case !a.IsValid():
		e.b = append(e.b, 0)
	case a.Is4():
		b := a.As4()
		e.b = append(append(e.b, 4), b[:]...)
	case a.Zone() == "":
		b := a.As16()
		e.b = append(append(e.b, 6), b[:]...)
	default:
		b := a.As16()
		e.b = append(append(e.b, 7), b[:]...)
		e.str(a.Zone())
	}
	if flags&flagIat != 0 {
		e.time(r.IssuedAt)
	}
	if flags&flagExp != 0 {
		e.time(r.Expires)
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(r.Records)))
	if len(r.Records) == 0 {
		return nil
	}
	// In name order, so that the same reports encode the same.
	e.nss = e.nss[:0]
	for ns := range r.Records {
		e.nss = append(e.nss, ns)
	}
	slices.Sort(e.nss)
	for _, ns := range e.nss {
		e.str(ns)
		ids := r.Records[ns]
		if !isSortedSet(ids) {
			return fmt.Errorf("record IDs of %q are not sorted and distinct", ns)
		}
		if runs(ids) <= len(ids)/16 {
			rb := roaring64.New()
			rb.AddMany(ids)
			rb.RunOptimize()
			bm, err := rb.ToPortableBytes()
			if err != nil {
				return err
			}
			e.b = append(e.b, idsBitmap)
			e.b = binary.AppendUvarint(e.b, uint64(len(bm)))
			e.b = append(e.b, bm...)
			continue
		}
		e.b = append(e.b, idsGaps)
		e.b = binary.AppendUvarint(e.b, uint64(len(ids)))
		prev := uint64(0)
		for i, id := range ids {
			if i == 0 {
				e.b = binary.AppendUvarint(e.b, id)
			} else {
				e.b = binary.AppendUvarint(e.b, id-prev)
			}
			prev = id
		}
	}
	return nil
}

func (e *batchEncoder) time(t time.Time) {
	e.b = binary.AppendVarint(e.b, t.Unix())
	e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
}

func (e *batchEncoder) str(s string) {
	if i, ok := e.strs[s]; ok {
		e.b = binary.AppendUvarint(e.b, i+1)
		return
	}
	e.strs[s] = uint64(len(e.strs))
	e.b = append(e.b, 0)
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

// isSortedSet reports whether ids is sorted and distinct.
func isSortedSet(ids []uint64) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return false
		}
	}
	return true
}

// runs counts the runs of consecutive IDs in sorted, distinct ids.
func runs(ids []uint64) int {
	if len(ids) == 0 {
		return 0
	}
	n := 1
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			n++
		}
	}
	return n
}

// DecodeBatch decodes what EncodeBatch encoded; anything else is an
// error, never a panic. What it decodes is bounded by its input: each
// count by the bytes left, a batch's record IDs by maxJournalIDs.
func DecodeBatch(b []byte) (reports []mayfly.LedgerReport, err error) {
	d := batchDecoder{b: b, strs: []string{""}}
	reports, err = d.batch()
	if err != nil {
		return nil, mayfly.E("ledger.DecodeBatch", fmt.Errorf("a journal batch does not decode: %w", err))
	}
	return reports, nil
}

type batchDecoder struct {
	b    []byte
	strs []string
	ids  int // record IDs decoded
}

var errShort = errors.New("too short")

func (d *batchDecoder) batch() ([]mayfly.LedgerReport, error) {
	if len(d.b) == 0 {
		return nil, errShort
	}
	if d.b[0] != batchVersion {
		return nil, fmt.Errorf("version %d, not %d", d.b[0], batchVersion)
	}
	d.b = d.b[1:]
	n, err := d.count(1)
	if err != nil {
		return nil, err
	}
	reports := make([]mayfly.LedgerReport, n)
	for i := range reports {
		if err := d.report(&reports[i]); err != nil {
			return nil, fmt.Errorf("report %d: %w", i, err)
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d bytes after its end", len(d.b))
	}
	return reports, nil
}

func (d *batchDecoder) report(r *mayfly.LedgerReport) error {
	flags, err := d.uvarint()
	if err != nil {
		return err
	}
	if flags >= 1<<4 {
		return fmt.Errorf("unknown flags %#x", flags)
	}
	r.Refused = flags&flagRefused != 0
	if flags&flagTime != 0 {
		if r.Time, err = d.time(); err != nil {
			return err
		}
	}
	var check string
	for _, into := range []*string{&r.Service, &r.Method, &r.Route, &r.JTI, &r.KID, &r.Issuer, &r.Subject, &r.ClientID, &r.Digest, &check} {
		if *into, err = d.str(); err != nil {
			return err
		}
	}
	r.Check = mayfly.LedgerCheck(check)
	kind, err := d.bytes(1)
	if err != nil {
		return err
	}
	switch kind[0] {
	case 0:
	case 4:
		b, err := d.bytes(4)
		if err != nil {
			return err
		}
		r.SourceIP = netip.AddrFrom4([4]byte(b))
	case 6, 7:
		b, err := d.bytes(16)
		if err != nil {
			return err
		}
		r.SourceIP = netip.AddrFrom16([16]byte(b))
		if kind[0] == 7 {
			zone, err := d.str()
			if err != nil {
				return err
			}
			r.SourceIP = r.SourceIP.WithZone(zone)
		}
	default:
		return fmt.Errorf("unknown address kind %d", kind[0])
	}
	if flags&flagIat != 0 {
		if r.IssuedAt, err = d.time(); err != nil {
			return err
		}
	}
	if flags&flagExp != 0 {
		if r.Expires, err = d.time(); err != nil {
			return err
		}
	}
	nns, err := d.count(2)
	if err != nil || nns == 0 {
		return err
	}
	r.Records = make(map[string][]uint64, nns)
	for range nns {
		ns, err := d.str()
		if err != nil {
			return err
		}
		if _, dup := r.Records[ns]; dup {
			return fmt.Errorf("namespace %q twice", ns)
		}
		if r.Records[ns], err = d.records(); err != nil {
			return fmt.Errorf("namespace %q: %w", ns, err)
		}
	}
	return nil
}

func (d *batchDecoder) records() ([]uint64, error) {
	kind, err := d.bytes(1)
	if err != nil {
		return nil, err
	}
	switch kind[0] {
	case idsGaps:
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		if d.ids += n; d.ids > maxJournalIDs {
			return nil, fmt.Errorf("more than %d record IDs", maxJournalIDs)
		}
		ids := make([]uint64, n)
		for i := range ids {
			v, err := d.uvarint()
			if err != nil {
				return nil, err
			}
			if i > 0 {
				prev := ids[i-1]
				if v == 0 || v > ^prev {
					return nil, errors.New("record IDs not sorted and distinct")
				}
				v += prev
			}
			ids[i] = v
		}
		return ids, nil
	case idsBitmap:
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		raw, err := d.bytes(n)
		if err != nil {
			return nil, err
		}
		rb, err := recordset.ReadBitmap(raw)
		if err != nil {
			return nil, err
		}
		card := rb.GetCardinality()
		if card > uint64(maxJournalIDs-d.ids) {
			return nil, fmt.Errorf("more than %d record IDs", maxJournalIDs)
		}
		d.ids += int(card)
		return rb.ToArray(), nil
	}
	return nil, fmt.Errorf("unknown kind of records %d", kind[0])
}

func (d *batchDecoder) time() (time.Time, error) {
	sec, n := binary.Varint(d.b)
	if n <= 0 {
		return time.Time{}, errShort
	}
	d.b = d.b[n:]
	nsec, err := d.uvarint()
	if err != nil {
		return time.Time{}, err
	}
	if nsec >= 1e9 {
		return time.Time{}, fmt.Errorf("%d nanoseconds", nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}

func (d *batchDecoder) str() (string, error) {
	i, err := d.uvarint()
	if err != nil {
		return "", err
	}
	if i > 0 {
		if i-1 >= uint64(len(d.strs)) {
			return "", fmt.Errorf("string %d of %d", i-1, len(d.strs))
		}
		return d.strs[i-1], nil
	}
	n, err := d.count(1)
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n)
	if err != nil {
		return "", err
	}
	s := string(b)
	d.strs = append(d.strs, s)
	return s, nil
}

func (d *batchDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, errShort
	}
	d.b = d.b[n:]
	return v, nil
}

// count reads a count of things that take at least size bytes each, and
// refuses one the bytes left cannot hold.
func (d *batchDecoder) count(size int) (int, error) {
	v, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if v > uint64(len(d.b)/size) {
		return 0, fmt.Errorf("a count of %d, more than the %d bytes left hold", v, len(d.b))
	}
	return int(v), nil
}

func (d *batchDecoder) bytes(n int) ([]byte, error) {
	if n > len(d.b) {
		return nil, errShort
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b, nil
}
