package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestStatements: a statement is prepared once a second transaction on
// the one writer connection has run it, once however often it ran, and
// the least recently used are closed beyond the bound; a prepared
// statement and an unprepared one give the same results.
func TestStatements(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // as the store's writer: preparing must not wait on a transaction
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	c := NewStatements(db)
	c.max = 3
	defer func() {
		c.Close()
		db.Close()
	}()
	inTx := func(queries ...string) {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		conn := SQLTx(tx, c)
		for _, q := range queries {
			if _, err := conn.Exec(ctx, q, 1); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := conn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	prepared := func(q string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.stmts[q] != nil
	}
	settle := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			c.mu.Lock()
			busy := c.preparing
			c.mu.Unlock()
			if !busy {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("statements still being prepared after 10 s")
			}
		}
	}

	insert := `INSERT INTO t (n) VALUES (?)`
	inTx(insert)
	settle()
	if prepared(insert) {
		t.Fatal("prepared after one transaction; want after two")
	}
	inTx(insert, insert, insert) // runs again and again before its preparation
	settle()
	if !prepared(insert) || len(c.want) != 0 || c.lru.Len() != 1 {
		t.Fatalf("after two transactions: prepared %v, %d wanted, %d kept; want it prepared once", prepared(insert), len(c.want), c.lru.Len())
	}
	inTx(insert) // through the prepared statement
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d rows, %v; want the 5 inserted, prepared or not", n, err)
	}

	// Beyond the bound, the least recently used goes.
	var others []string
	for i := range 3 {
		q := fmt.Sprintf(`INSERT INTO t (n) VALUES (? + %d)`, i)
		others = append(others, q)
		inTx(q)
		inTx(q)
		settle()
	}
	if prepared(insert) || !prepared(others[0]) || !prepared(others[2]) || c.lru.Len() != 3 {
		t.Errorf("after 3 more: first prepared %v, kept %d; want the least recently used closed and 3 kept", prepared(insert), c.lru.Len())
	}
	inTx(insert) // still runs: unprepared, until it is prepared again
}

// TestPoolStatements: a pool's statement is prepared once it has run
// twice, and serves a query run again while the rows of the first are
// still being read; beyond the bound the rest run unprepared and none is
// closed under a caller.
func TestPoolStatements(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER); INSERT INTO t (n) VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	c := NewPoolStatements(db)
	c.max = 2
	defer func() {
		c.Close()
		db.Close()
	}()
	pool := SQLPool(db, c)
	prepared := func(q string) bool {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			c.mu.Lock()
			busy, ok := c.preparing, c.stmts[q] != nil
			c.mu.Unlock()
			if !busy {
				return ok
			}
			if time.Now().After(deadline) {
				t.Fatal("statements still being prepared after 10 s")
			}
		}
	}
	sum := func(q string) int {
		t.Helper()
		rows, err := pool.Query(ctx, q, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		s := 0
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			// The same query again while these rows are open.
			var m int
			if err := pool.QueryRow(ctx, q, 0).Scan(&m); err != nil {
				t.Fatalf("%s again while its rows are read: %v", q, err)
			}
			s += n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return s
	}

	q := `SELECT n FROM t WHERE n > ? ORDER BY n`
	if sum(q) != 6 || !prepared(q) {
		t.Fatal("not prepared after running four times")
	}
	if got := sum(q); got != 6 {
		t.Fatalf("prepared: sum %d; want 6", got)
	}
	others := []string{`SELECT n FROM t WHERE n > ? + 0`, `SELECT n FROM t WHERE n > ? + 1`}
	for _, o := range others {
		sum(o)
		sum(o)
	}
	if !prepared(q) || !prepared(others[0]) || prepared(others[1]) {
		t.Errorf("beyond the bound of 2: prepared %v %v %v; want the first two kept and the third unprepared",
			prepared(q), prepared(others[0]), prepared(others[1]))
	}
}
