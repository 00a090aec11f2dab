package servertest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority for tests of a server that serves TLS
// itself: it issues server certificates for localhost, 127.0.0.1 and ::1.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// Pool trusts the CA, and nothing else.
	Pool *x509.CertPool
}

// Leaf is a server certificate and its key, in PEM.
type Leaf struct {
	CertPEM, KeyPEM []byte
	Serial          *big.Int
}

// NewCA makes a self-signed CA.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "mayfly test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, Pool: pool}
}

// Issue makes a server certificate valid for an hour.
func (ca *CA) Issue(t testing.TB) *Leaf {
	t.Helper()
	return ca.IssueUntil(t, time.Now().Add(time.Hour))
}

// IssueUntil makes a server certificate that expires at notAfter.
func (ca *CA) IssueUntil(t testing.TB, notAfter time.Time) *Leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		Serial:  tmpl.SerialNumber,
	}
}

// Write puts the certificate and key in place, each file replaced whole
// (written beside it, then renamed over it), the certificate first.
func (l *Leaf) Write(t testing.TB, certFile, keyFile string) {
	t.Helper()
	replace(t, certFile, l.CertPEM)
	replace(t, keyFile, l.KeyPEM)
}

func replace(t testing.TB, name string, b []byte) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tls-*")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmp.Write(b)
	if err = errors.Join(err, tmp.Close()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		t.Fatal(err)
	}
}

// Client is an HTTP client that trusts the CA and nothing else, with no
// connection reuse, so that each request makes a TLS handshake of its own.
func (ca *CA) Client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, DisableKeepAlives: true,
	}}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Serial makes a new TLS connection to addr, trusting the CA, and returns
// the serial of the certificate the server presented.
func (ca *CA) Serial(t testing.TB, addr string) *big.Int {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// Kept is a TLS connection made before a certificate changes, kept open
// until the test ends.
type Kept struct {
	t testing.TB
	c *tls.Conn
	r *bufio.Reader
}

// Keep opens a TLS connection to addr, trusting the CA.
func (ca *CA) Keep(t testing.TB, addr string) *Kept {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Kept{t: t, c: c, r: bufio.NewReader(c)}
}

// Get GETs /healthz on the connection and returns the status.
func (k *Kept) Get() int {
	k.t.Helper()
	fmt.Fprintf(k.c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		k.t.Fatalf("request on the kept connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Serial is the serial of the certificate the connection began with.
func (k *Kept) Serial() *big.Int { return k.c.ConnectionState().PeerCertificates[0].SerialNumber }
