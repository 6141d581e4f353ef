// Package azuretest is an Azure Key Vault secrets server for tests. It speaks
// the REST API the azsecrets client (v1.5.1) uses, over TLS, with the 401
// bearer challenge, so the real client runs against it unchanged and with
// challenge verification on.
//
// In process, use [Vault.Client] (or [Server.HTTPClient], [Server.Credential]
// and [Server.ClientOptions]): its dialer sends every configured vault host,
// such as testvault.vault.azure.net, to the server and trusts its test CA.
//
// A child process needs no test hook at all: [Server.Env] gives it an
// HTTPS_PROXY (a CONNECT proxy that only reaches the test vaults), an
// SSL_CERT_FILE holding the test CA, and an App Service managed identity
// endpoint, so DefaultAzureCredential and the SDK's default transport find the
// server the way they would find Azure. Addr and CAFile serve other setups.
package azuretest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

const (
	// Token is the bearer token the server accepts.
	Token = "azuretest-token"
	// TenantID is the tenant named in the server's challenge.
	TenantID = "00000000-0000-0000-0000-0000000a2e57"
	// Scope is what the client must ask its credential for after the challenge.
	Scope = resource + "/.default"
	// IdentityHeader is the IDENTITY_HEADER value the managed identity
	// endpoint expects.
	IdentityHeader = "azuretest-identity-header"

	resource     = "https://vault.azure.net"
	hostSuffix   = ".vault.azure.net"
	identityPath = "/msi/token"
	maxPageSize  = 25 // the service's own limit on maxresults
)

// Options configure a Server. The zero value serves one vault, "testvault".
type Options struct {
	// Vaults are the vault names served; the first is the default vault.
	Vaults []string
	// PageSize is the number of items per list page, 1 to 25; 0 means 25.
	PageSize int
}

// Op names a REST operation after the azsecrets method that calls it.
type Op string

const (
	OpGetSecret      Op = "GetSecret"
	OpSetSecret      Op = "SetSecret"
	OpListSecrets    Op = "ListSecretProperties"
	OpListVersions   Op = "ListSecretPropertiesVersions"
	OpNotImplemented Op = "" // any other request; answered 501 once authorized
)

// Request describes one request to a vault host.
type Request struct {
	Vault      string // vault name, e.g. "testvault"
	Op         Op
	Name       string // secret name as in the URL; "" for ListSecretProperties
	Version    string // requested version; "" for the latest
	Authorized bool   // carried the expected bearer token
	Status     int    // status answered; 0 while a Hook runs
}

// A Hook runs before each authorized request is served. It may sleep, or
// answer the request itself and return true (e.g. a 503 for an outage).
type Hook func(w http.ResponseWriter, req Request) bool

// Server is the test server. The embedded Vault is the default vault, so
// s.Set, s.URL, s.Client, ... act on it.
type Server struct {
	*Vault

	t         testing.TB
	caPEM     []byte
	tlsConfig *tls.Config
	transport *http.Transport
	pageSize  int
	vaults    map[string]*Vault // by host; fixed after New
	addr      string            // TLS listener; fixed after New
	proxyAddr string            // CONNECT proxy and identity endpoint; fixed after New

	runMu     sync.Mutex // guards api and side
	api, side *http.Server
	mu        sync.Mutex // guards the fields below and every Vault's data
	log       []Request
	hook      Hook
}

// New starts a server on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.PageSize < 0 || opts.PageSize > maxPageSize {
		t.Fatalf("azuretest: PageSize %d is outside 1..%d", opts.PageSize, maxPageSize)
	}
	s := &Server{t: t, pageSize: opts.PageSize, vaults: map[string]*Vault{}}
	if s.pageSize == 0 {
		s.pageSize = maxPageSize
	}
	names := opts.Vaults
	if len(names) == 0 {
		names = []string{"testvault"}
	}
	for _, name := range names {
		name = strings.ToLower(name)
		v := &Vault{srv: s, name: name, host: name + hostSuffix, secrets: map[string]*secret{}, denied: map[string]bool{}}
		if s.Vault == nil {
			s.Vault = v
		}
		s.vaults[v.host] = v
	}

	caPEM, cert, err := newCerts()
	if err != nil {
		t.Fatalf("azuretest: %v", err)
	}
	s.caPEM = caPEM
	s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	s.transport = &http.Transport{
		DialContext:       s.dial,
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}

	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("azuretest: %v", err)
	}
	side, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		api.Close()
		t.Fatalf("azuretest: %v", err)
	}
	s.addr, s.proxyAddr = api.Addr().String(), side.Addr().String()
	s.serve(api, side)
	t.Cleanup(s.Stop)
	return s
}

// dial sends every configured vault host to the server, and answers like DNS
// for any other host, as a vault name that does not exist would.
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.vaultByHost(addr) == nil {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, s.addr)
}

func (s *Server) vaultByHost(hostport string) *Vault {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return s.vaults[strings.ToLower(host)]
}

func (s *Server) serve(api, side net.Listener) {
	quiet := log.New(io.Discard, "", 0) // clients dropping idle connections are no news
	// A clone each time: ServeTLS adds "h2" to the config it is given.
	s.api = &http.Server{Handler: s.routes(), TLSConfig: s.tlsConfig.Clone(), ErrorLog: quiet}
	s.side = &http.Server{Handler: http.HandlerFunc(s.serveSide), ErrorLog: quiet}
	go s.api.ServeTLS(api, "", "")
	go s.side.Serve(side)
}

// Stop makes the server unreachable (connections are refused), keeping its
// data, until Start.
func (s *Server) Stop() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.api == nil {
		return
	}
	s.api.Close()
	s.side.Close()
	s.api, s.side = nil, nil
	// Else an in-process client's next request may go out on a pooled
	// connection the server has just closed, and fail with EOF instead.
	s.transport.CloseIdleConnections()
}

// Start serves again on the same addresses after Stop.
func (s *Server) Start() error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.api != nil {
		return nil
	}
	api, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("azuretest: restart: %w", err)
	}
	side, err := net.Listen("tcp", s.proxyAddr)
	if err != nil {
		api.Close()
		return fmt.Errorf("azuretest: restart: %w", err)
	}
	s.serve(api, side)
	return nil
}

// Addr is the TLS listener's address, 127.0.0.1:PORT; connect to it for any
// vault host.
func (s *Server) Addr() string { return s.addr }

// CAPEM is the test CA certificate, PEM encoded.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CAFile writes the test CA certificate to a file in t.TempDir and returns
// its path. Only the certificate: no key is ever written.
func (s *Server) CAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "azuretest-ca.pem")
	if err := os.WriteFile(path, s.caPEM, 0o644); err != nil {
		t.Fatalf("azuretest: %v", err)
	}
	return path
}

// ProxyURL is the HTTPS proxy that tunnels to the configured vault hosts.
func (s *Server) ProxyURL() string { return "http://" + s.proxyAddr }

// IdentityEndpoint is an App Service style managed identity endpoint that
// issues Token.
func (s *Server) IdentityEndpoint() string { return "http://" + s.proxyAddr + identityPath }

// Env is the environment that points a child process using
// DefaultAzureCredential and the SDK's default transport at the server; add
// it after the inherited environment. SSL_CERT_FILE is honoured by Go on
// Linux and other Unixes, not on macOS or Windows.
func (s *Server) Env(t testing.TB) []string {
	t.Helper()
	return []string{
		"HTTPS_PROXY=" + s.ProxyURL(),
		"NO_PROXY=", "no_proxy=", // an inherited exclusion of *.azure.net would bypass the proxy
		"SSL_CERT_FILE=" + s.CAFile(t),
		"IDENTITY_ENDPOINT=" + s.IdentityEndpoint(),
		"IDENTITY_HEADER=" + IdentityHeader,
		"AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential",
	}
}

// HTTPClient reaches the server for every configured vault host and trusts
// the test CA.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: s.transport} }

// Credential returns Token, after checking the client asked for what the
// challenge said.
func (s *Server) Credential() azcore.TokenCredential { return StaticCredential(Token) }

// ClientOptions are azsecrets options using HTTPClient, without retries.
func (s *Server) ClientOptions() *azsecrets.ClientOptions {
	return &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: s.HTTPClient(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
}

// VaultNamed returns the vault of that name, failing the test if it is not served.
func (s *Server) VaultNamed(name string) *Vault {
	s.t.Helper()
	v := s.vaults[strings.ToLower(name)+hostSuffix]
	if v == nil {
		s.t.Fatalf("azuretest: vault %q is not served", name)
	}
	return v
}

// SetHook installs h for the requests that follow; nil removes it.
func (s *Server) SetHook(h Hook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

// Requests returns every request made to any vault host so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, req)
}

// StaticCredential returns token for the vault scope and tenant the server's
// challenge names, and an error for anything else, so a client that skipped
// or misread the challenge fails.
func StaticCredential(token string) azcore.TokenCredential { return staticCredential(token) }

type staticCredential string

func (c staticCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 || opts.Scopes[0] != Scope || opts.TenantID != TenantID {
		return azcore.AccessToken{}, fmt.Errorf("azuretest: token requested for scopes %q, tenant %q; the challenge named %q, %q",
			opts.Scopes, opts.TenantID, Scope, TenantID)
	}
	return azcore.AccessToken{Token: string(c), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Vault is one vault's secrets and access controls.
type Vault struct {
	srv  *Server
	name string
	host string

	// guarded by srv.mu
	secrets map[string]*secret // by lower-case name: Key Vault names ignore case
	denied  map[string]bool    // lower-case names
	denyAll bool
}

type secret struct {
	name     string           // as first created
	versions []*secretVersion // in creation order; the last is the latest
}

// A version never changes once created, so it may be read without the lock.
type secretVersion struct {
	id, value, contentType string
	tags                   map[string]string
	enabled                bool
	nbf, exp               *int64
	created                int64
}

// Name is the vault's name, e.g. "testvault".
func (v *Vault) Name() string { return v.name }

// URL is the vault URL, e.g. https://testvault.vault.azure.net.
func (v *Vault) URL() string { return "https://" + v.host }

// Client is an azsecrets client for this vault, using the server's HTTPClient
// and Credential, without retries.
func (v *Vault) Client(t testing.TB) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(v.URL(), v.srv.Credential(), v.srv.ClientOptions())
	if err != nil {
		t.Fatalf("azuretest: %v", err)
	}
	return c
}

// Set stores value as a new, enabled version of the secret and returns the
// version id. It panics on a name Key Vault would refuse.
func (v *Vault) Set(name, value string) string {
	if !validName(name) {
		panic(fmt.Sprintf("azuretest: invalid secret name %q", name))
	}
	ver := &secretVersion{value: value, enabled: true}
	v.put(name, ver)
	return ver.id
}

// put adds ver, giving it an id, and returns the secret's name as first
// created.
func (v *Vault) put(name string, ver *secretVersion) string {
	ver.id = newVersionID()
	ver.created = time.Now().Unix()
	v.srv.mu.Lock()
	defer v.srv.mu.Unlock()
	sec := v.secrets[strings.ToLower(name)]
	if sec == nil {
		sec = &secret{name: name}
		v.secrets[strings.ToLower(name)] = sec
	}
	sec.versions = append(sec.versions, ver)
	return sec.name
}

// Latest returns the secret's latest value and version, read directly, not
// counted as a request.
func (v *Vault) Latest(name string) (value, version string, ok bool) {
	v.srv.mu.Lock()
	defer v.srv.mu.Unlock()
	sec := v.secrets[strings.ToLower(name)]
	if sec == nil {
		return "", "", false
	}
	latest := sec.versions[len(sec.versions)-1]
	return latest.value, latest.id, true
}

// Deny answers 403 Forbidden to every request for the secret until Allow.
func (v *Vault) Deny(name string) { v.setDenied(name, true) }

// Allow undoes Deny.
func (v *Vault) Allow(name string) { v.setDenied(name, false) }

func (v *Vault) setDenied(name string, deny bool) {
	v.srv.mu.Lock()
	defer v.srv.mu.Unlock()
	v.denied[strings.ToLower(name)] = deny
}

// DenyAll answers 403 Forbidden to every request to the vault, lists
// included, while deny is true.
func (v *Vault) DenyAll(deny bool) {
	v.srv.mu.Lock()
	defer v.srv.mu.Unlock()
	v.denyAll = deny
}

func (v *Vault) isDenied(name string) bool {
	v.srv.mu.Lock()
	defer v.srv.mu.Unlock()
	return v.denyAll || v.denied[strings.ToLower(name)]
}

// Count is the number of authorized requests for op to this vault, for the
// named secret (any case) unless name is "". Challenge round trips are not
// counted, so "fetched once" means one GetSecret.
func (v *Vault) Count(op Op, name string) int {
	n := 0
	for _, r := range v.srv.Requests() {
		if r.Vault == v.name && r.Authorized && r.Op == op && (name == "" || strings.EqualFold(r.Name, name)) {
			n++
		}
	}
	return n
}

// newCerts makes a test CA and a certificate for *.vault.azure.net signed by
// it, in memory.
func newCerts() (caPEM []byte, cert tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, fmt.Errorf("CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "azuretest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, fmt.Errorf("CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, cert, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, fmt.Errorf("server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "*" + hostSuffix},
		DNSNames:     []string{"*" + hostSuffix}, // as Azure's own certificate
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, fmt.Errorf("server certificate: %w", err)
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
