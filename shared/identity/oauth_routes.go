package identity

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/problem"
)

func (s *Service) handleOAuthStart(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleOAuthStart"
	if err := s.limitRequest(r, op, "oauth", "", s.limits.OAuthPerIP, Limit{}); err != nil {
		return err
	}
	authURL, state, err := s.StartOAuth(r.Context(), r.PathValue("provider"))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: StateCookie, Value: state, Path: "/v1/auth/oauth/", MaxAge: int(OAuthStateTTL.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

func (s *Service) handleOAuthCallback(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleOAuthCallback"
	if err := s.limitRequest(r, op, "oauth", "", s.limits.OAuthPerIP, Limit{}); err != nil {
		return err
	}
	cookie := ""
	if c, err := r.Cookie(StateCookie); err == nil {
		cookie = c.Value
	}
	// The cookie has done its job whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: StateCookie, Value: "", Path: "/v1/auth/oauth/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	tok, u, err := s.FinishOAuth(r.Context(), r.PathValue("provider"), q.Get("state"), cookie, q.Get("code"), r.UserAgent())
	w.Header().Set("Cache-Control", "no-store")
	if wantsPage(r) {
		// A person's browser lands on the completion page; the session
		// token (or the refusal) travels in the fragment, which the browser
		// never sends to a server.
		frag := "#token=" + url.QueryEscape(tok)
		if err != nil {
			problem.Log(r, err)
			frag = "#error=" + url.QueryEscape(problem.KindOf(err).String())
		}
		http.Redirect(w, r, s.publicURL+"/oauth-complete"+frag, http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	s.sessionReply(w, tok, u)
	return nil
}

// wantsPage reports whether r is a browser navigation (it prefers HTML).
func wantsPage(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if mt == "text/html" {
			return true
		}
	}
	return false
}
