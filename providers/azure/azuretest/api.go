package azuretest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /secrets", s.handle(OpListSecrets, s.listSecrets))
	mux.Handle("GET /secrets/{name}", s.handle(OpGetSecret, s.getSecret))
	mux.Handle("GET /secrets/{name}/{$}", s.handle(OpGetSecret, s.getSecret))
	mux.Handle("GET /secrets/{name}/{version}", s.handle(OpGetSecret, s.getSecret))
	mux.Handle("GET /secrets/{name}/versions", s.handle(OpListVersions, s.listVersions))
	mux.Handle("PUT /secrets/{name}", s.handle(OpSetSecret, s.setSecret))
	mux.Handle("/", s.handle(OpNotImplemented, func(_ *Vault, w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, "NotImplemented", "", "azuretest does not implement "+r.Method+" "+r.URL.Path)
	}))
	return mux
}

// handle does what the service does before any operation: pick the vault by
// host, challenge or refuse unauthorized requests, check api-version, the
// secret name and access; and it logs the request.
func (s *Server) handle(op Op, serve func(*Vault, http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := s.vaultByHost(r.Host)
		if v == nil {
			writeError(w, http.StatusMisdirectedRequest, "MisdirectedRequest", "", "no vault "+r.Host+" on this server")
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		req := Request{
			Vault:      v.name,
			Op:         op,
			Name:       r.PathValue("name"),
			Version:    r.PathValue("version"),
			Authorized: r.Header.Get("Authorization") == "Bearer "+Token,
		}
		defer func() {
			req.Status = rec.status
			s.record(req)
		}()
		switch {
		case !req.Authorized:
			challenge(rec, r.Header.Get("Authorization") != "")
		case r.URL.Query().Get("api-version") == "":
			writeError(rec, http.StatusBadRequest, "BadParameter", "", "The api-version query parameter is missing.")
		case req.Name != "" && !validName(req.Name):
			writeError(rec, http.StatusBadRequest, "BadParameter", "", "The request URI contains an invalid name: "+req.Name)
		case s.runHook(rec, req):
		case v.isDenied(req.Name):
			writeError(rec, http.StatusForbidden, "Forbidden", "ForbiddenByRbac", "Caller is not authorized to perform action on resource.")
		default:
			serve(v, rec, r)
		}
	})
}

// challenge answers 401 as Key Vault does. The tenant segment matters: the
// SDK reads the tenant from it, and without one re-challenges every request.
func challenge(w http.ResponseWriter, hadToken bool) {
	w.Header().Set("WWW-Authenticate",
		fmt.Sprintf(`Bearer authorization="https://login.microsoftonline.com/%s", resource="%s"`, TenantID, resource))
	msg := "AKV10000: Request is missing a Bearer or PoP token."
	if hadToken {
		msg = "The access token is not valid (azuretest accepts azuretest.Token only)."
	}
	writeError(w, http.StatusUnauthorized, "Unauthorized", "", msg)
}

func (s *Server) runHook(w http.ResponseWriter, req Request) bool {
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	return h != nil && h(w, req)
}

func (s *Server) getSecret(v *Vault, w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("name"), r.PathValue("version")
	s.mu.Lock()
	var ver *secretVersion
	var canonical string
	if sec := v.secrets[strings.ToLower(name)]; sec != nil {
		canonical = sec.name
		if id == "" {
			ver = sec.versions[len(sec.versions)-1]
		} else if i := slices.IndexFunc(sec.versions, func(x *secretVersion) bool { return strings.EqualFold(x.id, id) }); i >= 0 {
			ver = sec.versions[i]
		}
	}
	s.mu.Unlock()
	switch {
	case ver == nil:
		ref := name
		if id != "" {
			ref += "/" + id
		}
		writeError(w, http.StatusNotFound, "SecretNotFound", "",
			"A secret with (name/id) "+ref+" was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.")
	case !ver.enabled:
		writeError(w, http.StatusForbidden, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret.")
	default:
		writeJSON(w, http.StatusOK, ver.bundle(secretID(v.host, canonical, ver.id), true))
	}
}

func (s *Server) setSecret(v *Vault, w http.ResponseWriter, r *http.Request) {
	var p struct {
		Value       *string           `json:"value"`
		ContentType string            `json:"contentType"`
		Attributes  attributes        `json:"attributes"`
		Tags        map[string]string `json:"tags"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter", "", "Invalid request body: "+err.Error())
		return
	}
	if p.Value == nil {
		writeError(w, http.StatusBadRequest, "BadParameter", "", "The secret value is required.")
		return
	}
	ver := &secretVersion{
		value:       *p.Value,
		contentType: p.ContentType,
		tags:        p.Tags,
		enabled:     p.Attributes.Enabled == nil || *p.Attributes.Enabled,
		nbf:         p.Attributes.NotBefore,
		exp:         p.Attributes.Expires,
	}
	name := v.put(r.PathValue("name"), ver)
	writeJSON(w, http.StatusOK, ver.bundle(secretID(v.host, name, ver.id), true))
}

// listSecrets lists each secret's latest version, without its value or
// version, in name order.
func (s *Server) listSecrets(v *Vault, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	items := make([]bundle, 0, len(v.secrets))
	for _, sec := range v.secrets {
		items = append(items, sec.versions[len(sec.versions)-1].bundle(secretID(v.host, sec.name, ""), false))
	}
	s.mu.Unlock()
	slices.SortFunc(items, func(a, b bundle) int { return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID)) })
	s.writePage(w, r, v.host, items)
}

// listVersions lists the versions of a secret, oldest first, without values;
// like the service, it answers an empty list for a secret that does not exist.
func (s *Server) listVersions(v *Vault, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	items := []bundle{}
	if sec := v.secrets[strings.ToLower(r.PathValue("name"))]; sec != nil {
		for _, ver := range sec.versions {
			items = append(items, ver.bundle(secretID(v.host, sec.name, ver.id), false))
		}
	}
	s.mu.Unlock()
	s.writePage(w, r, v.host, items)
}

// writePage answers one page of items. The nextLink is absolute and carries
// api-version, as the service's does: the client GETs it as is.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, host string, items []bundle) {
	q := r.URL.Query()
	size := s.pageSize
	if m := q.Get("maxresults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, "BadParameter", "", fmt.Sprintf("maxresults must be between 1 and %d.", maxPageSize))
			return
		}
		size = min(size, n)
	}
	start := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "BadParameter", "", "Invalid $skiptoken.")
			return
		}
		start = min(n, len(items))
	}
	end := min(start+size, len(items))
	page := struct {
		Value    []bundle `json:"value"`
		NextLink *string  `json:"nextLink"`
	}{Value: items[start:end]}
	if end < len(items) {
		link := fmt.Sprintf("https://%s:443%s?api-version=%s&$skiptoken=%d&maxresults=%d",
			host, r.URL.Path, url.QueryEscape(q.Get("api-version")), end, size)
		page.NextLink = &link
	}
	writeJSON(w, http.StatusOK, page)
}

// serveSide serves the plain-HTTP side of the server: the CONNECT proxy and
// the managed identity endpoint a child process uses.
func (s *Server) serveSide(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		s.tunnel(w, r)
	case r.URL.Path == identityPath:
		issueToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

// tunnel connects a proxy client to the TLS listener, for vault hosts only.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request) {
	if _, port, _ := net.SplitHostPort(r.Host); port != "443" || s.vaultByHost(r.Host) == nil {
		http.Error(w, "azuretest: no such host "+r.Host, http.StatusBadGateway)
		return
	}
	up, err := net.Dial("tcp", s.addr)
	if err != nil {
		http.Error(w, "azuretest: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	go copyThenCloseWrite(up, buf)
	io.Copy(conn, up) // ends when the TLS server closes, e.g. on Stop
}

func copyThenCloseWrite(dst net.Conn, src io.Reader) {
	io.Copy(dst, src)
	if c, ok := dst.(*net.TCPConn); ok {
		c.CloseWrite()
	}
}

// issueToken answers as App Service's managed identity endpoint does.
func issueToken(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-IDENTITY-HEADER") != IdentityHeader {
		http.Error(w, "azuretest: wrong or missing X-IDENTITY-HEADER", http.StatusUnauthorized)
		return
	}
	res := r.URL.Query().Get("resource")
	if res != resource {
		http.Error(w, "azuretest: token requested for resource "+res+", not "+resource, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": Token,
		"expires_on":   strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10),
		"resource":     res,
		"token_type":   "Bearer",
	})
}

// bundle is a SecretBundle, or a SecretItem without Value.
type bundle struct {
	Value       *string           `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  attributes        `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// attributes are SecretAttributes; times are Unix seconds.
type attributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created,omitempty"`
	Updated         int64  `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays int    `json:"recoverableDays,omitempty"`
}

// secretID is a secret's identifier, with its version unless ver is "".
func secretID(host, name, ver string) string {
	id := "https://" + host + "/secrets/" + name
	if ver != "" {
		id += "/" + ver
	}
	return id
}

func (ver *secretVersion) bundle(id string, withValue bool) bundle {
	b := bundle{
		ID:          id,
		ContentType: ver.contentType,
		Tags:        ver.tags,
		Attributes: attributes{
			Enabled:         &ver.enabled,
			NotBefore:       ver.nbf,
			Expires:         ver.exp,
			Created:         ver.created,
			Updated:         ver.created,
			RecoveryLevel:   "Recoverable+Purgeable",
			RecoverableDays: 90,
		},
	}
	if withValue {
		b.Value = &ver.value
	}
	return b
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, inner, msg string) {
	type innerError struct {
		Code string `json:"code"`
	}
	e := struct {
		Code       string      `json:"code"`
		Message    string      `json:"message"`
		InnerError *innerError `json:"innererror,omitempty"`
	}{Code: code, Message: msg}
	if inner != "" {
		e.InnerError = &innerError{inner}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// validName is Key Vault's rule for object names: 1 to 127 letters, digits
// and dashes.
func validName(name string) bool {
	if len(name) < 1 || len(name) > 127 {
		return false
	}
	for _, c := range name {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func newVersionID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}
