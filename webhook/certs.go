package webhook

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// keyPair is the serving certificate, read again whenever its files
// change. It checks the files' identity (os.Stat: device and inode, size,
// mtime) at each TLS handshake rather than watching their directory: a
// Secret volume is updated by swapping a "..data" symlink, others write in
// place, and a stat sees both without a goroutine or an event to miss.
// Two stats per handshake cost microseconds against the handshake's
// milliseconds, and the API server keeps its connections open.
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger
	metrics           *metrics

	mu       sync.Mutex
	cert     *tls.Certificate
	certStat os.FileInfo // of the files cert was read from, stat'ed before reading
	keyStat  os.FileInfo
	// Of files that did not make a pair: read again only once they change.
	badCert, badKey os.FileInfo
}

// loadKeyPair reads the pair once: a webhook that cannot serve TLS at
// start is a configuration error.
func loadKeyPair(certFile, keyFile string, log *slog.Logger, m *metrics) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile, log: log, metrics: m}
	cs, ks, err := k.stat()
	if err == nil {
		err = k.load(cs, ks)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// getCertificate is tls.Config.GetCertificate: the pair on disk now. While
// the files do not make a pair (one written, the other not yet) it serves
// the last good one, and reads them again once they change.
func (k *keyPair) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cs, ks, err := k.stat()
	if err != nil || (sameFile(cs, k.certStat) && sameFile(ks, k.keyStat)) || (sameFile(cs, k.badCert) && sameFile(ks, k.badKey)) {
		return k.cert, nil // a file missing for a moment, or nothing new
	}
	if err := k.load(cs, ks); err != nil {
		k.badCert, k.badKey = cs, ks
		k.log.Error("serving the previous certificate", "err", err)
	}
	return k.cert, nil
}

func (k *keyPair) stat() (cert, key os.FileInfo, err error) {
	if cert, err = os.Stat(k.certFile); err != nil {
		return nil, nil, fmt.Errorf("--tls-cert-file: %w", err)
	}
	if key, err = os.Stat(k.keyFile); err != nil {
		return nil, nil, fmt.Errorf("--tls-key-file: %w", err)
	}
	return cert, key, nil
}

// load reads the files whose stats are cs and ks. The stats were taken
// before reading: if the files change in between, the next handshake sees
// a difference and reads them again.
func (k *keyPair) load(cs, ks os.FileInfo) error {
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	k.metrics.certificateLoad(cert.Leaf, err)
	if err != nil {
		return fmt.Errorf("--tls-cert-file %s, --tls-key-file %s: %w", k.certFile, k.keyFile, err)
	}
	if k.cert != nil {
		k.log.Info("certificate reloaded", "serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter)
	}
	k.cert, k.certStat, k.keyStat = &cert, cs, ks
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
