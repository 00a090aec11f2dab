package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mayflyhq/mayfly"
	"golang.org/x/mod/sumdb/note"
)

// A scope report is signed by the audit log's key as a signed note whose
// text is, line by line: ScopeReportFormat, the log's origin, the index
// of the audit entry that records the report, and the base64 SHA-256 of
// the report's canonical JSON (ScopeReportDigest). Its first line can
// never be a checkpoint's origin followed by a tree size, so neither
// note can pass for the other.

// ScopeReportFormat names the report layout and its signed text.
const ScopeReportFormat = "mayfly-scope-report/v1"

// ScopeReportDigest is the SHA-256 of r's canonical JSON: what encoding/json
// makes of it after a round trip through JSON, so that a report read back
// from a file digests as the one written.
func ScopeReportDigest(r *mayfly.ScopeReport) ([32]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return [32]byte{}, err
	}
	var back mayfly.ScopeReport
	if err := json.Unmarshal(b, &back); err != nil {
		return [32]byte{}, err
	}
	if b, err = json.Marshal(&back); err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// ScopeReportText is the text the log key signs for a report.
func ScopeReportText(origin string, index uint64, sum [32]byte) string {
	return fmt.Sprintf("%s\n%s\n%d\n%s\n", ScopeReportFormat, origin, index, base64.StdEncoding.EncodeToString(sum[:]))
}

// VerifyScopeReport checks a signed scope report offline against the
// log's public key: the signature, that the signed text names this
// report's digest, origin and audit entry, and the format.
func VerifyScopeReport(raw []byte, vkey string) (*mayfly.SignedScopeReport, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("log key: %v", err)
	}
	var sr mayfly.SignedScopeReport
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return nil, fmt.Errorf("report: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("report: data after its end")
	}
	if sr.Report.Format != ScopeReportFormat {
		return nil, fmt.Errorf("report format %q, want %q", sr.Report.Format, ScopeReportFormat)
	}
	n, err := note.Open([]byte(sr.Signature), note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("signature does not verify under the log key: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 4 || lines[0] != ScopeReportFormat {
		return nil, fmt.Errorf("the signed note is not a scope report's")
	}
	if lines[1] != sr.Report.Origin {
		return nil, fmt.Errorf("signed for log %q, but the report names %q", lines[1], sr.Report.Origin)
	}
	if idx, err := strconv.ParseUint(lines[2], 10, 64); err != nil || idx != sr.AuditIndex {
		return nil, fmt.Errorf("signed for audit entry %s, but the report names %d", lines[2], sr.AuditIndex)
	}
	sum, err := ScopeReportDigest(&sr.Report)
	if err != nil {
		return nil, err
	}
	if lines[3] != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("the report was changed after it was signed: its digest is not the one signed")
	}
	return &sr, nil
}
