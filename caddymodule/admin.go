package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves /valet/revocations on Caddy's admin endpoint:
//
//	GET    /valet/revocations?name=N          list the active revocations
//	POST   /valet/revocations?name=N          revoke: {"kind","id","before","expires"}
//	DELETE /valet/revocations?name=N&kind=K&id=I   remove one
//
// name selects the revocation list (default: default). A kid or aud
// revocation without "before" cuts off at the time of the request.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.valet",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes implements caddy.AdminRouter.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/valet/revocations", Handler: caddy.AdminHandlerFunc(a.revocations)}}
}

// maxAdminBody bounds a revocation request body.
const maxAdminBody = 64 << 10

func (a *AdminAPI) revocations(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = DefaultRevocationName
	}
	checker, err := checkerNamed(name)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	}
	switch r.Method {
	case http.MethodGet:
		entries, err := checker.List(r.Context())
		if err != nil {
			return storeError(err)
		}
		if entries == nil {
			entries = []revocation.Entry{}
		}
		return writeJSON(w, http.StatusOK, entries)
	case http.MethodPost:
		var e revocation.Entry
		dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding revocation: %w", err)}
		}
		if _, err := dec.Token(); err != io.EOF { // one object, nothing after it
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding revocation: data after the JSON object")}
		}
		if err := checkRevokable(e.Subject); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
		}
		if (e.Kind == revocation.Key || e.Kind == revocation.Audience) && e.Before.IsZero() {
			e.Before = time.Now()
		}
		if err := e.Normalize(time.Now(), checker.Options().MaxTTL); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
		}
		e, err := checker.Revoke(r.Context(), e)
		if err != nil {
			return storeError(err)
		}
		return writeJSON(w, http.StatusOK, e)
	case http.MethodDelete:
		s := revocation.Subject{Kind: revocation.Kind(r.URL.Query().Get("kind")), ID: r.URL.Query().Get("id")}
		if err := s.Validate(); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
		}
		found, err := checker.Remove(r.Context(), s)
		if err != nil {
			return storeError(err)
		}
		return writeJSON(w, http.StatusOK, map[string]bool{"removed": found})
	default:
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("use GET, POST or DELETE")}
	}
}

// checkRevokable refuses to revoke a jti or a group no token could carry:
// such an entry would sit in the store and revoke nothing. Removing one is
// still allowed.
func checkRevokable(s revocation.Subject) error {
	switch s.Kind {
	case revocation.JTI:
		return token.CheckID(s.ID)
	case revocation.Group:
		return token.CheckGroup(s.ID)
	}
	return nil
}

func storeError(err error) error {
	return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("revocation store: %w", err)}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guard
var _ caddy.AdminRouter = (*AdminAPI)(nil)
