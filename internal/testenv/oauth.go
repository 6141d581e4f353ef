package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
)

// OAuthServer is an OAuth 2.0 authorization server for the tests, built on
// github.com/go-oauth2/oauth2 (the client-credentials grant, client secrets
// by HTTP basic auth), on 127.0.0.1, with its RFC 8414 metadata. It has one
// client, whose secret SetSecret rotates, and records the RFC 8707 resource
// of each token request.
type OAuthServer struct {
	URL      string // the issuer, http://127.0.0.1:PORT
	ClientID string
	// Issued counts the access tokens issued; Refused the token requests
	// refused.
	Issued, Refused atomic.Int64

	manager *manage.Manager
	clients *store.ClientStore

	mu        sync.Mutex
	resources []string
	notBefore time.Time // tokens issued earlier are revoked
}

// OAuth starts an authorization server whose client clientID has secret,
// and whose access tokens last life; stopped on cleanup.
func OAuth(t testing.TB, clientID, secret string, life time.Duration) *OAuthServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: authorization server: %v", err)
	}
	s := &OAuthServer{URL: "http://" + ln.Addr().String(), ClientID: clientID, manager: manage.NewDefaultManager(), clients: store.NewClientStore()}
	s.manager.SetClientTokenCfg(&manage.Config{AccessTokenExp: life})
	s.manager.MustTokenStorage(store.NewMemoryTokenStore())
	s.manager.MapClientStorage(s.clients)
	s.SetSecret(secret)
	srv := server.NewDefaultServer(s.manager)
	srv.SetClientInfoHandler(server.ClientBasicHandler)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                s.URL,
			"token_endpoint":                        s.URL + "/token",
			"grant_types_supported":                 []string{"client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.mu.Lock()
		s.resources = append(s.resources, r.PostForm.Get("resource"))
		s.mu.Unlock()
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		srv.HandleTokenRequest(cw, r)
		if cw.code == http.StatusOK {
			s.Issued.Add(1)
		} else {
			s.Refused.Add(1)
		}
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return s
}

// SetSecret makes secret the client's only secret, and revokes every token
// issued before: the old secret leaked.
func (s *OAuthServer) SetSecret(secret string) {
	s.clients.Set(s.ClientID, &models.Client{ID: s.ClientID, Secret: secret})
	s.mu.Lock()
	s.notBefore = time.Now()
	s.mu.Unlock()
}

// Resources are the resource parameters of the token requests, in order.
func (s *OAuthServer) Resources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.resources...)
}

// Verify checks an access token as the resource server asks the
// authorization server, and returns its expiry.
func (s *OAuthServer) Verify(ctx context.Context, token string) (time.Time, error) {
	ti, err := s.manager.LoadAccessToken(ctx, token)
	if err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	revoked := ti.GetAccessCreateAt().Before(s.notBefore)
	s.mu.Unlock()
	if revoked {
		return time.Time{}, errNoToken
	}
	return ti.GetAccessCreateAt().Add(ti.GetAccessExpiresIn()), nil
}

// errNoToken is a token revoked by a secret rotation.
var errNoToken = errors.New("the access token was revoked")

// codeWriter remembers the status.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
