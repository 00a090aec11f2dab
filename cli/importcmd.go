package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/client"
)

// The bounds of one POST /v1/ledger/events, as the ingest takes it.
const (
	importMaxLines = 10_000
	importMaxBytes = 16 << 20
	// importMaxLine bounds a line of the access log; a report line is
	// at most 64 KiB, so a longer log line is refused either way.
	importMaxLine = 1 << 20
)

func ledgerImportCommand() *command {
	return &command{name: "import", args: "FILE --format jsonl --map MEMBER=FIELD,...",
		summary: "post a JSON access log (nginx, Envoy) to the ledger, one report a line", run: ledgerImport}
}

// importSummary is what an import did.
type importSummary struct {
	Lines    int `json:"lines"`   // lines of the file read, those skipped too
	Skipped  int `json:"skipped"` // lines skipped with --skip
	Accepted int `json:"accepted"`
	Batches  int `json:"batches"`
}

func ledgerImport(ctx context.Context, args []string, env Env) error {
	var (
		format, preset, service string
		pairs                   list
		skip                    int
		dryRun                  bool
		batchLines              int
	)
	f := newFlags("ledger import", env)
	a := &adminFlags{}
	a.register(f, env)
	f.StringVar(&format, "format", "", "the log's format: jsonl, one JSON object a line (required)")
	f.Var(&pairs, "map", "report member=log field pairs, comma-separated or repeated, such as time=time_local,records.customer=customer_ids; a field may be a dotted path")
	f.StringVar(&preset, "preset", "", "start from the field names of a common log: nginx or envoy; --map adds to them")
	f.StringVar(&service, "service", "", "the reporting service, for lines that do not name one")
	f.IntVar(&skip, "skip", 0, "skip the file's first N lines, as a stopped import says to")
	f.BoolVar(&dryRun, "dry-run", false, "print the reports as JSON Lines instead of posting them, tokens shown as [token]")
	f.CountVar(&batchLines, "batch", importMaxLines, "reports per request, at most 10000")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(1, "one FILE"); err != nil {
		return err
	}
	switch {
	case format != "jsonl":
		return usagef("--format: expected jsonl, the one format known; see 'mayfly ledger import --help'")
	case skip < 0:
		return usagef("--skip: expected a whole number of lines")
	case batchLines > importMaxLines:
		return usagef("--batch: at most %d reports a request", importMaxLines)
	}
	m, err := parseMapping(preset, pairs, service)
	if err != nil {
		return usagef("%s", mayfly.ErrorMessage(err))
	}
	var c *client.Client
	if !dryRun {
		if c, err = a.client(env); err != nil {
			return err
		}
	}
	name := f.pos[0]
	file, err := os.Open(name)
	if err != nil {
		return mayfly.Errorf(mayfly.Invalid, "cannot read %s: %v", name, errors.Unwrap(err))
	}
	defer file.Close()
	imp := &importer{name: name, c: c, max: batchLines, dryRun: dryRun, out: env.Stdout, sum: importSummary{Skipped: skip}}
	if err := imp.run(ctx, file, m, skip); err != nil {
		return err
	}
	if dryRun {
		return nil
	}
	s := imp.sum
	return a.print(env, s, func(w io.Writer) {
		fmt.Fprintf(w, "read %d lines of %s (skipped %d); %d reports accepted in %d batches\n", s.Lines, name, s.Skipped, s.Accepted, s.Batches)
	})
}

// importer maps a file's lines and posts them in batches.
type importer struct {
	name   string
	c      *client.Client
	max    int
	dryRun bool
	out    io.Writer
	sum    importSummary

	batch bytes.Buffer
	lines []int // the file's line of each of the batch's lines
	done  int   // the file's last line of the last batch accepted
}

func (imp *importer) run(ctx context.Context, r io.Reader, m *logMapping, skip int) error {
	imp.done = skip
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), importMaxLine)
	n := 0
	for sc.Scan() {
		n++
		imp.sum.Lines = n
		if n <= skip || len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		rep, err := m.mapLine(sc.Bytes())
		if err != nil {
			return imp.stop(n, mayfly.ErrorMessage(err))
		}
		if imp.dryRun {
			if err := imp.print(rep); err != nil {
				return err
			}
			continue
		}
		if len(imp.lines) == imp.max || imp.batch.Len()+len(rep)+1 > importMaxBytes {
			if err := imp.post(ctx); err != nil {
				return err
			}
		}
		imp.batch.Write(rep)
		imp.batch.WriteByte('\n')
		imp.lines = append(imp.lines, n)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return imp.stop(n+1, fmt.Sprintf("longer than %d bytes", importMaxLine))
	} else if err != nil {
		return mayfly.Errorf(mayfly.Invalid, "reading %s after line %d: %v", imp.name, n, err)
	}
	if len(imp.lines) > 0 && !imp.dryRun {
		return imp.post(ctx)
	}
	return nil
}

// print writes a report for --dry-run, its token (a bearer credential)
// replaced. The token is last, and base64url and dots only, so its JSON
// string ends at the next quote.
func (imp *importer) print(rep []byte) error {
	const member = `"token":"`
	if i := bytes.Index(rep, []byte(member)); i >= 0 {
		end := i + len(member) + bytes.IndexByte(rep[i+len(member):], '"')
		rep = slices.Concat(rep[:i], []byte(member+"[token]"), rep[end:])
	}
	_, err := fmt.Fprintf(imp.out, "%s\n", rep)
	return err
}

// batchLine finds the batch's line number at the start of the server's
// message.
var batchLine = regexp.MustCompile(`^line (\d+): `)

// post sends the batch; on a refusal it names the file's line at fault.
func (imp *importer) post(ctx context.Context) error {
	accepted, err := imp.c.PostLedgerReports(ctx, imp.batch.Bytes())
	if err != nil {
		msg := mayfly.ErrorMessage(err)
		if mm := batchLine.FindStringSubmatch(msg); mm != nil {
			if i, _ := strconv.Atoi(mm[1]); i >= 1 && i <= len(imp.lines) {
				return imp.stop(imp.lines[i-1], msg[len(mm[0]):])
			}
		}
		if mayfly.ErrorCode(err) == mayfly.Invalid || mayfly.ErrorCode(err) == mayfly.PermissionDenied {
			return imp.stop(0, msg)
		}
		return &mayfly.Error{Code: mayfly.ErrorCode(err), Msg: msg + "; " + imp.resume(), Err: err}
	}
	imp.sum.Accepted += accepted
	imp.sum.Batches++
	imp.done = imp.lines[len(imp.lines)-1]
	imp.batch.Reset()
	imp.lines = imp.lines[:0]
	return nil
}

// stop is the error that ends an import at the file's line (0: the batch
// as a whole), with what was accepted before it.
func (imp *importer) stop(line int, why string) error {
	where := imp.name
	if line > 0 {
		where = fmt.Sprintf("%s line %d", imp.name, line)
	}
	if imp.dryRun {
		return mayfly.Errorf(mayfly.Invalid, "%s: %s", where, why)
	}
	return mayfly.Errorf(mayfly.Invalid, "%s: %s; nothing of its batch was posted; %s", where, why, imp.resume())
}

// resume says what was accepted, and how to go on from there.
func (imp *importer) resume() string {
	if imp.sum.Batches == 0 && imp.done == 0 {
		return "no batch was accepted before it"
	}
	return fmt.Sprintf("%d batches (%d reports) were accepted before it, through line %d: resume with --skip %d", imp.sum.Batches, imp.sum.Accepted, imp.done, imp.done)
}
