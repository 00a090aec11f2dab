// Package postgres is Mayfly's scale-out storage backend: the tables of
// store/sqlite, with the same meaning, in one PostgreSQL schema that any
// number of replicas share through github.com/jackc/pgx/v5.
//
// Its SQL is store/internal/sqlstore's, shared with store/sqlite. What is
// PostgreSQL's own is connecting, the schema and its migrations, which are
// embedded and applied by Open (or by Migrate) under an advisory lock, so
// replicas starting together apply each one exactly once; coordination
// across replicas (advisory locks, LISTEN/NOTIFY); scrubbing (VACUUM); and
// the paths where speed decides: issuance records and audit entries are
// loaded with COPY, and audit entries are found by time through an index.
// Tables live in the connection's current schema, the first of its
// search_path; every advisory lock key and the NOTIFY channel are derived
// from that schema's name, so stores in two schemas of one database never
// interfere.
//
// # Invariants
//
// When Commit, or a method that commits by itself, returns nil, its change
// has committed with PostgreSQL's synchronous commit: with the server's
// default synchronous_commit=on, it survives a crash of the server. A
// transaction that changes state services cache (see mayfly.Change)
// announces it with NOTIFY inside the transaction, just before COMMIT, so
// the notice is delivered if and only if the change commits. Revocations
// commit in the order of their sequence numbers, and audit appends one
// transaction at a time, whichever replica makes them: each takes a
// transaction-level advisory lock that it holds until it ends. Locks of
// Lock are session-level advisory locks held by a dedicated connection: a
// replica that dies, or closes its store, releases them. The package makes
// no policy decisions.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// defaultMaxConns is the pool size unless the DSN sets pool_max_conns.
const defaultMaxConns = 16

// Store is a mayfly.Store on one PostgreSQL schema.
type Store struct {
	*sqlstore.Store

	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the dedicated connections of Lock and Watch
	schema  string
	channel string // the NOTIFY channel of the schema

	// Dedicated connections of held locks and running watches, by the
	// socket under each, which Close shuts.
	mu     sync.Mutex
	conns  map[*pgx.Conn]net.Conn
	idle   []idleLock // lock sessions holding nothing (see maxIdleLocks)
	closed bool
	done   chan struct{} // closed by Close
}

var _ mayfly.Store = (*Store)(nil)

// Open connects to the database named by dsn, a PostgreSQL URL or keyword
// string as pgx reads it, and applies pending migrations. The pool holds at
// most 16 connections unless the DSN sets pool_max_conns.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := poolConfig("postgres.Open", dsn)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mayfly.E("postgres.Open", err)
	}
	schema, err := currentSchema(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := migrate(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, err
	}
	connCfg := pool.Config().ConnConfig
	// A dedicated connection runs a statement or two and ends: preparing
	// them first would only add a round trip.
	connCfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	// A lock lasts as long as its session. Over TCP, a holder whose host
	// vanished would otherwise keep its session, and so its lock, until the
	// server's keepalive gives up (two hours by default): ask the server to
	// end these sessions within about ten seconds of silence instead. Unix
	// socket connections ignore these settings and end with their process.
	connCfg.RuntimeParams = maps.Clone(connCfg.RuntimeParams)
	for k, v := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3", "tcp_user_timeout": "10000"} {
		if _, set := connCfg.RuntimeParams[k]; !set {
			connCfg.RuntimeParams[k] = v
		}
	}
	s := &Store{
		pool: pool, connCfg: connCfg, schema: schema, channel: channelName(schema),
		conns: map[*pgx.Conn]net.Conn{}, done: make(chan struct{}),
	}
	rb := &sqlstore.Rebinder{}
	s.Store = sqlstore.New(sqlstore.Config{
		Name:  "postgres",
		Read:  sqlstore.PGX(pool, rb),
		Write: sqlstore.PGX(pool, rb),
		// BEGIN goes with a transaction's first statement: a round trip
		// saved on every transaction that begins with one.
		Begin:      func(context.Context) (sqlstore.Conn, error) { return sqlstore.PGXBegin(pool, rb), nil },
		Constraint: constraint,
		XactLock: func(name string) (string, []any) {
			return `SELECT pg_advisory_xact_lock(` + lockKeyArg + `)`, []any{lockName(schema, name)}
		},
		XactLockShared: func(name string) (string, []any) {
			return `SELECT pg_advisory_xact_lock_shared(` + lockKeyArg + `)`, []any{lockName(schema, name)}
		},
		SkipLocked:      ` FOR UPDATE SKIP LOCKED`,
		ForShare:        ` FOR SHARE`,
		BeforeCommit:    s.beforeCommit,
		AfterCommit:     s.afterCommit,
		InsertIssuances: insertIssuances,
		InsertAudit:     insertAudit,
		AuditTime:       auditTime,
	})
	// The store has no clock of its own: the maintenance that prunes
	// issuance records makes partitions by the service's. A lock that a
	// long query holds does not keep the store shut: records go to the
	// default partition until maintenance makes their day's.
	if err := s.ensurePartitions(ctx, time.Now()); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55P03" { // lock_not_available
			pool.Close()
			return nil, mayfly.E("postgres.Open", err)
		}
	}
	return s, nil
}

// Migrate applies pending migrations to the database named by dsn and
// returns the versions it applied, none when the schema is up to date.
func Migrate(ctx context.Context, dsn string) (applied []int, err error) {
	cfg, err := poolConfig("postgres.Migrate", dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, mayfly.E("postgres.Migrate", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	schema, err := currentSchema(ctx, conn)
	if err != nil {
		return nil, err
	}
	return migrate(ctx, conn, schema)
}

func poolConfig(op, dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: "bad postgresql connection string", Err: err}
	}
	// pgxpool takes pool_max_conns out of the parameters it parsed, so
	// look for it in a plain parse.
	if plain, err := pgconn.ParseConfig(dsn); err == nil {
		if _, ok := plain.RuntimeParams["pool_max_conns"]; !ok {
			cfg.MaxConns = defaultMaxConns
		}
	}
	return cfg, nil
}

// db is what a pool, a connection and a transaction have in common.
type db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// currentSchema returns the schema tables are created in and found in.
func currentSchema(ctx context.Context, q db) (string, error) {
	var schema pgtype.Text
	if err := q.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", mayfly.E("postgres.currentSchema", err)
	}
	if !schema.Valid {
		return "", &mayfly.Error{Op: "postgres.currentSchema", Code: mayfly.Invalid, Msg: "no schema of the search_path exists: create one or set search_path"}
	}
	return schema.String, nil
}

// channelName is the NOTIFY channel of schema. A channel name is an
// identifier, at most 63 bytes: a longer one is made from a hash.
func channelName(schema string) string {
	ch := "mayfly." + schema
	if len(ch) > 63 {
		sum := sha256.Sum256([]byte(schema))
		ch = "mayfly." + hex.EncodeToString(sum[:20])
	}
	return ch
}

// lockKey is the SQL of an advisory lock key; its one argument is the name
// that lockName returns. lockKeyArg is the same with a ? placeholder, for
// the statements the shared SQL runs.
const (
	lockKey    = `hashtextextended($1, 0)`
	lockKeyArg = `hashtextextended(?, 0)`
)

// lockName qualifies name with the schema, so that stores in two schemas
// of one database take different locks.
func lockName(schema, name string) string { return schema + "/" + name }

// migrate applies pending migrations to schema, the current one of q.
func migrate(ctx context.Context, q db, schema string) ([]int, error) {
	all, err := sqlstore.Migrations(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// One transaction for every pending migration: an upgrade happens
	// whole or not at all, and a fresh schema costs one commit.
	var applied []int
	err = pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		// Replicas starting together queue here, and each finds what the
		// one before it applied.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`, lockName(schema, "migrate")); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, m := range all {
			if slices.Contains(done, int32(m.Version)) {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migrate %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.Version, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("migrate %s: %w", m.Name, err)
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, mayfly.E("postgres.Migrate", err)
	}
	return applied, nil
}

// Close closes the store's connections. Locks still held are released, as
// when a replica dies. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	conns, idle := s.conns, s.idle
	s.conns, s.idle = nil, nil
	s.mu.Unlock()
	// The owners of these connections may be waiting on them: shutting
	// the socket ends each wait, and ends the session, which releases its
	// locks. The owners close the pgx connections themselves.
	for _, raw := range conns {
		raw.Close()
	}
	for _, l := range idle { // no owner waits on these
		ctx, cancel := context.WithTimeout(context.Background(), hangUpTimeout)
		l.conn.Close(ctx)
		cancel()
	}
	s.pool.Close()
	return nil
}

// beforeCommit announces a transaction's changes with NOTIFY inside it, just
// before COMMIT, so that they are delivered if and only if it commits.
func (s *Store) beforeCommit(ctx context.Context, q sqlstore.Querier, changes []mayfly.Change) error {
	b := &sqlstore.Batch{}
	for _, c := range changes {
		b.Exec(nil, `SELECT pg_notify(?, ?)`, s.channel, string(c))
	}
	return q.SendBatch(ctx, b)
}

// afterCommit vacuums the tables a committed transaction freed secrets in.
func (s *Store) afterCommit(ctx context.Context, _ []mayfly.Change, scrub []string) {
	for _, table := range scrub {
		s.vacuum(ctx, table)
	}
}

// vacuum removes the dead row versions of table, such as those still
// holding key material a committed update erased, so that they do not stay
// in the table's pages until autovacuum comes by. PostgreSQL cannot promise
// that the freed bytes are overwritten, nor that write-ahead log, replicas
// and backups forget them, and a row version an open transaction can still
// see is kept: that is why key material is sealed under the root key
// whatever happens to it here. VACUUM cannot run inside a transaction.
//
// It is best effort and reports nothing: the change it follows has
// committed, and must not be reported as failed because the caller went
// away or because a role that does not own the table may not vacuum it.
func (s *Store) vacuum(ctx context.Context, table string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.pool.Exec(ctx, `VACUUM `+pgx.Identifier{table}.Sanitize())
}

// constraint classifies PostgreSQL's constraint violations (sqlstore.Config).
func constraint(err error) mayfly.Code {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return mayfly.Conflict
		case "23503": // foreign_key_violation
			return mayfly.NotFound
		}
	}
	return ""
}
