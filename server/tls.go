package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
)

// maxPEM bounds what is read of a certificate or key file: a chain is a
// few kilobytes, and a wrong path must not read a disk image into memory.
const maxPEM = 1 << 20

// certificate is the server's TLS certificate and key, read from files
// and read again when their contents change or on demand. A read that
// fails, such as of a pair half written or that does not match, keeps the
// certificate in use and says why, once per reason.
type certificate struct {
	certFile, keyFile string
	clock             mayfly.Clock
	log               *slog.Logger
	current           atomic.Pointer[tls.Certificate]

	mu     sync.Mutex // one read at a time
	seen   [32]byte   // the files' contents last read
	served [32]byte   // the contents of current
	failed string     // why the last read failed; "" after a good one
}

// loadCertificate reads the pair, and refuses one that does not load.
func loadCertificate(certFile, keyFile string, clock mayfly.Clock, log *slog.Logger) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile, clock: clock, log: log}
	certPEM, keyPEM, sum, err := c.read()
	if err != nil {
		return nil, err
	}
	cert, err := c.parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	c.current.Store(cert)
	c.seen, c.served = sum, sum
	c.logLoaded("TLS certificate loaded", cert)
	return c, nil
}

// config is the listener's TLS configuration: TLS 1.2 at least, the
// standard library's defaults otherwise, and always the current pair.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// watch reads the files again every so often, and at once on each
// receive from reload, until ctx ends.
func (c *certificate) watch(ctx context.Context, every time.Duration, reload <-chan os.Signal) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.reload("the files changed", false)
		case sig := <-reload:
			c.reload("signal "+sig.String(), true)
		}
	}
}

// reload reads the pair again and serves it if it loads. Unless forced, a
// pair whose contents have not changed since the last read is left as it
// is, loaded or refused.
func (c *certificate) reload(why string, force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, keyPEM, sum, err := c.read()
	if err == nil && sum == c.seen && !force {
		if sum == c.served {
			c.failed = "" // what failed to read before reads again, unchanged
		}
		return nil
	}
	var cert *tls.Certificate
	if err == nil {
		c.seen = sum
		cert, err = c.parse(certPEM, keyPEM)
	}
	if err != nil {
		if force || err.Error() != c.failed {
			c.log.Warn("TLS certificate not reloaded; still serving the previous one", "why", why, "err", err)
		}
		c.failed = err.Error()
		return err
	}
	c.current.Store(cert)
	c.served, c.failed = sum, ""
	c.logLoaded("TLS certificate reloaded", cert, "why", why)
	return nil
}

// read reads both files and a digest of their contents.
func (c *certificate) read() (certPEM, keyPEM []byte, sum [32]byte, err error) {
	if certPEM, err = readPEM(c.certFile); err != nil {
		return nil, nil, sum, err
	}
	if keyPEM, err = readPEM(c.keyFile); err != nil {
		return nil, nil, sum, err
	}
	h := sha256.New()
	for _, b := range [][]byte{certPEM, keyPEM} {
		binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	return certPEM, keyPEM, [32]byte(h.Sum(nil)), nil
}

// parse loads a pair: the key must be the certificate's, and the
// certificate not expired.
func (c *certificate) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	if now := c.clock.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired at %s", c.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

func (c *certificate) logLoaded(msg string, cert *tls.Certificate, args ...any) {
	c.log.Info(msg, append([]any{"subject", cert.Leaf.Subject.String(), "dns_names", cert.Leaf.DNSNames,
		"serial", cert.Leaf.SerialNumber.Text(16), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "file", c.certFile}, args...)...)
}

// readPEM reads a certificate or key file of at most maxPEM bytes.
func readPEM(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err != nil {
		return nil, fmt.Errorf("TLS: %s: %w", name, err)
	}
	if len(b) > maxPEM {
		return nil, fmt.Errorf("TLS: %s is larger than %d bytes; not a PEM certificate or key", name, maxPEM)
	}
	return b, nil
}
