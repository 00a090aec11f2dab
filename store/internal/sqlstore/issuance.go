package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
)

// Issuance rows hold integer references to their key, client and
// principal in place of their IDs. A reference never changes once made, so
// one read from a committed row is cached for good; one read inside a
// transaction is cached once the transaction commits, as the row may be
// the transaction's own.

// IssuanceRefs are the references of one issuance record.
type IssuanceRefs struct{ Key, Client, Principal int64 }

// refMaps hold references by ID.
type refMaps struct{ keys, clients, principals map[string]int64 }

// refs is the store's cache of committed references.
type refs struct {
	mu sync.Mutex
	refMaps
}

func (c *refs) merge(t *refMaps) {
	if t.keys == nil && t.clients == nil && t.principals == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []struct{ dst, src *map[string]int64 }{{&c.keys, &t.keys}, {&c.clients, &t.clients}, {&c.principals, &t.principals}} {
		for id, ref := range *m.src {
			if *m.dst == nil {
				*m.dst = map[string]int64{}
			}
			(*m.dst)[id] = ref
		}
	}
}

// refs returns the references of recs, in order, reading in t those the
// store does not hold. Its error names the ID that could not be resolved.
func (t *Tx) refsOf(recs []mayfly.Issuance) ([]IssuanceRefs, error) {
	s := t.s
	out := make([]IssuanceRefs, len(recs))
	missing := false
	s.refs.mu.Lock()
	for i, r := range recs {
		out[i] = IssuanceRefs{s.refs.keys[r.KID], s.refs.clients[r.ClientID], s.refs.principals[r.PrincipalID]}
		missing = missing || out[i].Key == 0 || out[i].Client == 0 || out[i].Principal == 0
	}
	s.refs.mu.Unlock()
	if !missing { // references are never 0
		return out, nil
	}
	for i, r := range recs {
		var err error
		if out[i].Key == 0 {
			if out[i].Key, err = t.ref(&t.refs.keys, `SELECT ref FROM keys WHERE kid = ?`, r.KID); err != nil {
				return nil, fmt.Errorf("key %s: %w", r.KID, err)
			}
		}
		if out[i].Client == 0 {
			if out[i].Client, err = t.ref(&t.refs.clients, `SELECT ref FROM clients WHERE id = ?`, r.ClientID); err != nil {
				return nil, fmt.Errorf("client %s: %w", r.ClientID, err)
			}
		}
		if out[i].Principal == 0 {
			if out[i].Principal, err = t.ref(&t.refs.principals, `SELECT ref FROM principals WHERE id = ?`, r.PrincipalID); err != nil {
				return nil, fmt.Errorf("principal %s: %w", r.PrincipalID, err)
			}
		}
	}
	return out, nil
}

// ref returns the reference of id that query reads, keeping it in *m.
func (t *Tx) ref(m *map[string]int64, query, id string) (int64, error) {
	if ref, ok := (*m)[id]; ok {
		return ref, nil
	}
	var ref int64
	if err := t.conn.QueryRow(t.ctx, query, id).Scan(&ref); err != nil {
		return 0, err
	}
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[id] = ref
	return ref, nil
}

// RecordIssuances resolves the records' references and has the backend
// insert them (Config.InsertIssuances).
func (s *Store) RecordIssuances(tx mayfly.Tx, recs []mayfly.Issuance) error {
	const op = "RecordIssuances"
	t, err := TxOf(s, tx, op)
	if err != nil || len(recs) == 0 {
		return err
	}
	refs, err := t.refsOf(recs)
	if err != nil {
		return s.err(op, err)
	}
	return s.err(op, s.cfg.InsertIssuances(t, recs, refs))
}

func (s *Store) Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error) {
	var where []string
	var args []any
	if f.ClientID != "" {
		where, args = append(where, "c.id = ?"), append(args, f.ClientID)
	}
	if f.KID != "" {
		where, args = append(where, "k.kid = ?"), append(args, f.KID)
	}
	if f.JTI != "" {
		where, args = append(where, "i.jti = ?"), append(args, f.JTI)
		// A store that keeps records by day looks in the jti's days only.
		if lo, hi, ok := mayfly.JTIWindow(f.JTI); ok {
			where, args = append(where, "i.iat BETWEEN ? AND ?"), append(args, lo, hi)
		}
	}
	if f.Digest != "" {
		where, args = append(where, "i.digest = ?"), append(args, f.Digest)
	}
	if f.Subject != "" {
		// The second condition lets a prepared (generic) plan use the
		// subject index, which holds only records with a subject.
		where, args = append(where, "i.subject = ? AND i.subject <> ''"), append(args, f.Subject)
	}
	// Token IDs begin with their issue time: a time range is a jti range,
	// served by the jti index.
	if !f.Since.IsZero() {
		where, args = append(where, "i.jti >= ? AND i.iat >= ?"), append(args, mayfly.JTIBound(f.Since), f.Since.Unix())
	}
	if !f.Until.IsZero() {
		// iat is whole seconds: a record of the second Until falls in is
		// kept here and decided by the jti, which has milliseconds.
		where, args = append(where, "i.jti < ? AND i.iat <= ?"), append(args, mayfly.JTIBound(f.Until), f.Until.Unix())
	}
	q := `SELECT i.jti, i.digest, k.kid, c.id, p.id, i.subject, i.actor, i.sid, i.source_ip, i.user_agent, i.iat, i.exp FROM issuances i
		JOIN keys k ON k.ref = i.key_ref JOIN clients c ON c.ref = i.client_ref JOIN principals p ON p.ref = i.principal_ref`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY i.jti DESC"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	recs, err := queryAll(ctx, s.cfg.Read, func(row Row) (mayfly.Issuance, error) {
		var r mayfly.Issuance
		var iat, exp int64
		err := row.Scan(&r.JTI, &r.Digest, &r.KID, &r.ClientID, &r.PrincipalID, &r.Subject, &r.Actor, &r.SessionID, &r.SourceIP, &r.UserAgent, &iat, &exp)
		r.IssuedAt, r.ExpiresAt = time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
		return r, err
	}, q, args...)
	return recs, s.err("Issuances", err)
}

// Client assertions.

func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) error {
	_, err := s.cfg.Write.Exec(ctx, `INSERT INTO assertions (client_id, jti, exp) VALUES (?, ?, ?)`, clientID, jti, exp.UnixNano())
	return s.err("UseAssertion", err)
}

func (s *Store) UseAssertions(tx mayfly.Tx, uses []mayfly.AssertionUse) ([]bool, error) {
	const op = "UseAssertions"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return nil, err
	}
	// One statement each, sent together: a jti used twice in the batch
	// is recorded by its first use.
	n := make([]int64, len(uses))
	b := &Batch{}
	for i, u := range uses {
		b.Exec(&n[i], `INSERT INTO assertions (client_id, jti, exp) VALUES (?, ?, ?) ON CONFLICT (client_id, jti) DO NOTHING`,
			u.ClientID, u.JTI, u.Exp.UnixNano())
	}
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return nil, s.err(op, err)
	}
	used := make([]bool, len(uses))
	for i := range n {
		used[i] = n[i] == 0
	}
	return used, nil
}

func (s *Store) PruneAssertions(ctx context.Context, now time.Time) error {
	_, err := s.cfg.Write.Exec(ctx, `DELETE FROM assertions WHERE exp <= ?`, now.UnixNano())
	return s.err("PruneAssertions", err)
}

// PruneIssuances deletes, record by record, at most p.Batch issuance
// records issued before p.Before (mayfly.TokenStore.PruneIssuances).
func (s *Store) PruneIssuances(ctx context.Context, up mayfly.Updater, p mayfly.IssuancePrune) (mayfly.IssuancesPruned, error) {
	pruned, err := s.PruneIssuanceRows(ctx, up, p, "issuances", "rowid")
	return pruned, s.err("PruneIssuances", err)
}

// PruneIssuanceRows deletes at most p.Batch records of table issued before
// p.Before, oldest first, in one transaction of up together with
// p.Record's. rowID names a row of table. Records are found through the
// jti index, so that finding nothing to delete is one index probe, made
// before any transaction begins.
func (s *Store) PruneIssuanceRows(ctx context.Context, up mayfly.Updater, p mayfly.IssuancePrune, table, rowID string) (mayfly.IssuancesPruned, error) {
	if p.Batch <= 0 {
		return mayfly.IssuancesPruned{}, &mayfly.Error{Code: mayfly.Invalid, Msg: "a batch of issuance records to prune must hold at least one"}
	}
	bound, before := mayfly.JTIBound(p.Before), p.Before.Unix()
	var one int
	err := s.cfg.Read.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE jti < ? AND iat < ? LIMIT 1`, bound, before).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return mayfly.IssuancesPruned{}, nil
	}
	if err != nil {
		return mayfly.IssuancesPruned{}, err
	}
	var pruned mayfly.IssuancesPruned
	err = up.Update(ctx, func(tx mayfly.Tx) error {
		t, err := TxOf(s, tx, "PruneIssuances")
		if err != nil {
			return err
		}
		recs, err := queryAll(t.ctx, t.conn, func(row Row) (mayfly.Issuance, error) {
			var r mayfly.Issuance
			return r, row.Scan(&r.JTI, &r.Digest)
		}, `DELETE FROM `+table+` WHERE `+rowID+` IN (SELECT `+rowID+` FROM `+table+` WHERE jti < ? AND iat < ? ORDER BY jti LIMIT ?) RETURNING jti, digest`,
			bound, before, p.Batch)
		if err != nil || len(recs) == 0 { // another replica pruned them
			pruned = mayfly.IssuancesPruned{}
			return err
		}
		slices.SortFunc(recs, mayfly.IssuanceLine)
		sum := mayfly.NewIssuanceSum()
		for _, r := range recs {
			sum.Add(r.JTI, r.Digest)
		}
		pruned = sum.Pruned(time.Time{})
		return p.Record(tx, pruned)
	})
	if err != nil {
		return mayfly.IssuancesPruned{}, err
	}
	return pruned, nil
}
