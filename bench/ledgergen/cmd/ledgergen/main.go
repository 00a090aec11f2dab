// Command ledgergen writes the ledgergen workload as JSON Lines reports
// on stdout, and the attacks it injected, as JSON, to a file. Its tokens
// are made-up claims, not Mayfly's: for looking at the workload and
// timing the generator; a test that ingests it mints real ones.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mayflyhq/mayfly/bench/ledgergen"
)

// madeUp mints nothing: it names tokens of 15 minutes after the holder
// and a counter.
type madeUp struct{ n int }

func (m *madeUp) Token(holder string, t time.Time) (ledgergen.Token, error) {
	m.n++
	jti := fmt.Sprintf("%s-%d", holder, m.n)
	d := sha256.Sum256([]byte(jti))
	t = t.Truncate(time.Second)
	return ledgergen.Token{JTI: jti, KID: "k1", Issuer: "https://mayfly.example", Subject: "mfc_" + holder, ClientID: "mfc_" + holder,
		IssuedAt: t, Expires: t.Add(15 * time.Minute), Digest: base64.RawURLEncoding.EncodeToString(d[:16])}, nil
}

func main() {
	var cfg ledgergen.Config
	days := flag.Int("days", 7, "days of traffic")
	attacks := flag.String("attacks", "", "write the attacks injected, as JSON, to this file")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "the seed: the same seed, the same workload")
	flag.Float64Var(&cfg.PeakPerMinute, "peak", 20, "benign requests per service a minute at the daily peak")
	flag.BoolVar(&cfg.NoAttacks, "no-attacks", false, "benign traffic only")
	flag.Parse()
	cfg.Duration = time.Duration(*days) * 24 * time.Hour
	if err := run(cfg, *attacks); err != nil {
		fmt.Fprintln(os.Stderr, "ledgergen:", err)
		os.Exit(1)
	}
}

func run(cfg ledgergen.Config, attacksFile string) error {
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var buf []byte
	n, start := 0, time.Now()
	attacks, err := ledgergen.New(cfg, &madeUp{}).Run(func(ev ledgergen.Event) error {
		if ev.Report == nil {
			return nil
		}
		n++
		buf = ledgergen.AppendJSONL(buf[:0], ev.Report)
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ledgergen: %d reports, %d attacks, in %v\n", n, len(attacks), time.Since(start).Round(time.Millisecond))
	if attacksFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(attacks, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(attacksFile, append(b, '\n'), 0o644)
}
