package identity

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
)

// Function is the Lambda that serves the identity routes.
const Function = "auth"

// Routes are the identity routes.
func (s *Service) Routes() []guard.Route {
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/auth/signup", Policy: guard.Public(), Handler: s.handleSignup, Function: Function,
			Example: `{"email":"ada@example.com","password":"correct horse battery"}`},
		{Method: "POST", Pattern: "/v1/auth/login", Policy: guard.Public(), Handler: s.handleLogin, Function: Function,
			Example: `{"email":"ada@example.com","password":"correct horse battery"}`},
		{Method: "POST", Pattern: "/v1/auth/logout", Policy: guard.Authenticated(), Handler: s.handleLogout, Function: Function},
		{Method: "GET", Pattern: "/v1/auth/me", Policy: guard.Authenticated(), Handler: s.handleMe, Function: Function},
	}
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Service) handleSignup(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	var in credentials
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.Signup(r.Context(), in.Email, in.Password)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, map[string]any{"user": u})
	return nil
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	var in credentials
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	tok, u, err := s.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"token": tok, "token_type": "Bearer", "expires_in": int(SessionTTL.Seconds()), "user": u,
	})
	return nil
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	if err := s.Logout(r.Context(), a.Principal); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleMe(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	u, err := s.UserByID(r.Context(), a.Principal.User)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"user": u})
	return nil
}
