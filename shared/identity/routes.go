package identity

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
)

// Function is the Lambda that serves the identity routes.
const Function = "auth"

// Routes are the identity routes.
func (s *Service) Routes() []guard.Route {
	pub, auth := guard.Public(), guard.Authenticated()
	const cred = `{"email":"ada@example.com","password":"correct horse battery"}`
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/auth/signup", Policy: pub, Handler: s.handleSignup, Function: Function, Example: cred,
			Summary: "Create an account (a verification mail follows)", Request: credentials{}, Reply: userReply{}, Status: http.StatusCreated},
		{Method: "POST", Pattern: "/v1/auth/login", Policy: pub, Handler: s.handleLogin, Function: Function, Example: cred,
			Summary: "Sign in with email and password (and the second factor when enabled)", Request: Credentials{}, Reply: sessionReply{}},
		{Method: "POST", Pattern: "/v1/auth/logout", Policy: auth, Handler: s.handleLogout, Function: Function,
			Summary: "End this session", Status: http.StatusNoContent},
		{Method: "GET", Pattern: "/v1/auth/me", Policy: auth, Handler: s.handleMe, Function: Function,
			Summary: "The signed-in user", Reply: userReply{}},

		{Method: "POST", Pattern: "/v1/auth/password-reset", Policy: pub, Handler: s.handleResetRequest, Function: Function,
			Example: `{"email":"ada@example.com"}`,
			Summary: "Mail a password-reset link", Request: emailOnly{}, Reply: acceptedReply{}, Status: http.StatusAccepted},
		{Method: "POST", Pattern: "/v1/auth/password-reset/confirm", Policy: pub, Handler: s.handleResetConfirm, Function: Function,
			Example: `{"token":"fbt_…","password":"a new long password"}`,
			Summary: "Set a new password with a reset token (signs out every session)", Request: resetConfirm{}, Reply: sessionReply{}},
		{Method: "POST", Pattern: "/v1/auth/magic-link", Policy: pub, Handler: s.handleMagicRequest, Function: Function,
			Example: `{"email":"ada@example.com"}`,
			Summary: "Mail a sign-in link", Request: emailOnly{}, Reply: acceptedReply{}, Status: http.StatusAccepted},
		{Method: "POST", Pattern: "/v1/auth/magic-link/confirm", Policy: pub, Handler: s.handleMagicConfirm, Function: Function,
			Example: `{"token":"fbt_…"}`,
			Summary: "Sign in with a mailed link's token", Request: magicConfirm{}, Reply: sessionReply{}},
		{Method: "POST", Pattern: "/v1/auth/verify-email", Policy: pub, Handler: s.handleVerify, Function: Function,
			Example: `{"token":"fbt_…"}`,
			Summary: "Confirm an email address with the mailed token", Request: tokenOnly{}, Reply: userReply{}},
		{Method: "POST", Pattern: "/v1/auth/verify-email/resend", Policy: auth, Handler: s.handleVerifyResend, Function: Function,
			Summary: "Mail the verification link again", Reply: acceptedReply{}, Status: http.StatusAccepted},

		{Method: "GET", Pattern: "/v1/auth/oauth/{provider}/start", Policy: pub, Handler: s.handleOAuthStart, Function: Function,
			Summary: "Start OAuth sign-in (redirects to the provider)", Status: http.StatusFound, ReplyType: "text/html"},
		{Method: "GET", Pattern: "/v1/auth/oauth/{provider}/callback", Policy: pub, Handler: s.handleOAuthCallback, Function: Function,
			Query:   []string{"code", "state"},
			Summary: "Finish OAuth sign-in (a browser is sent to /oauth-complete with the session in the fragment)", Reply: sessionReply{}, SeeOther: true},

		{Method: "GET", Pattern: "/v1/auth/sessions", Policy: auth, Handler: s.handleSessions, Function: Function,
			Summary: "The signed-in user's live sessions", Reply: sessionList{}},
		{Method: "DELETE", Pattern: "/v1/auth/sessions", Policy: auth, Handler: s.handleRevokeOthers, Function: Function,
			Summary: "Sign out every other session", Reply: revokedReply{}},
		{Method: "DELETE", Pattern: "/v1/auth/sessions/{session}", Policy: auth, Handler: s.handleRevokeSession, Function: Function,
			Summary: "Sign out one session", Status: http.StatusNoContent},
		{Method: "POST", Pattern: "/v1/auth/password", Policy: auth, Handler: s.handleChangePassword, Function: Function,
			Example: `{"current_password":"correct horse battery","new_password":"a new long password"}`,
			Summary: "Change the password (other sessions end; a fresh token is returned)", Request: passwordChange{}, Reply: sessionReply{}},

		{Method: "POST", Pattern: "/v1/auth/totp/enroll", Policy: auth, Handler: s.handleTOTPEnroll, Function: Function,
			Summary: "Start TOTP enrolment", Reply: TOTPEnrollment{}},
		{Method: "POST", Pattern: "/v1/auth/totp/confirm", Policy: auth, Handler: s.handleTOTPConfirm, Function: Function,
			Example: `{"code":"123456"}`,
			Summary: "Confirm TOTP enrolment with a code; returns recovery codes once", Request: codeOnly{}, Reply: totpConfirmed{}},
		{Method: "DELETE", Pattern: "/v1/auth/totp", Policy: auth, Handler: s.handleTOTPDisable, Function: Function,
			Example: `{"code":"123456"}`,
			Summary: "Turn TOTP off", Request: codeOnly{}, Status: http.StatusNoContent},
	}
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type emailOnly struct {
	Email string `json:"email"`
}

type tokenOnly struct {
	Token string `json:"token"`
}

// sessionReply is the answer of every route that opens a session.
type sessionReply struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int    `json:"expires_in"` // seconds
	User      User   `json:"user"`
}

// userReply carries one user.
type userReply struct {
	User User `json:"user"`
}

// acceptedReply answers a request that mails something (or not: it reads
// the same either way).
type acceptedReply struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// resetConfirm sets a new password with a reset token.
type resetConfirm struct {
	Token    string `json:"token"`
	Password string `json:"password"`
	Factor
}

// magicConfirm signs in with a magic-link token.
type magicConfirm struct {
	Token string `json:"token"`
	Factor
}

// passwordChange is a signed-in password change.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// sessionList is the signed-in user's sessions.
type sessionList struct {
	Items []Session `json:"items"`
}

// revokedReply counts the sessions signed out.
type revokedReply struct {
	Revoked int64 `json:"revoked"`
}

// totpConfirmed answers a confirmed enrolment with the recovery codes.
type totpConfirmed struct {
	Enabled       bool     `json:"enabled"`
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Service) sessionReply(w http.ResponseWriter, tok string, u User) {
	httpx.JSON(w, http.StatusOK, sessionReply{Token: tok, TokenType: "Bearer", ExpiresIn: int(s.absolute.Seconds()), User: u})
}

func accepted(w http.ResponseWriter) {
	httpx.JSON(w, http.StatusAccepted, acceptedReply{Status: "accepted", Detail: "if the address can receive it, an email is on its way"})
}

func (s *Service) handleSignup(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleSignup"
	var in credentials
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "signup", in.Email, s.limits.SignupPerIP, s.limits.SignupPerEmail); err != nil {
		return err
	}
	u, err := s.Signup(r.Context(), in.Email, in.Password)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, userReply{User: u})
	return nil
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleLogin"
	var in Credentials
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "login", in.Email, s.limits.LoginPerIP, s.limits.LoginPerEmail); err != nil {
		return err
	}
	tok, u, err := s.LoginWith(r.Context(), in, r.UserAgent())
	if err != nil {
		return err
	}
	s.sessionReply(w, tok, u)
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
	httpx.JSON(w, http.StatusOK, userReply{User: u})
	return nil
}

func (s *Service) handleResetRequest(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleResetRequest"
	var in emailOnly
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "reset", in.Email, s.limits.ResetPerIP, s.limits.ResetPerEmail); err != nil {
		return err
	}
	if err := s.RequestPasswordReset(r.Context(), in.Email); err != nil {
		return err
	}
	accepted(w)
	return nil
}

func (s *Service) handleResetConfirm(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleResetConfirm"
	var in resetConfirm
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "confirm", "", s.limits.ConfirmPerIP, Limit{}); err != nil {
		return err
	}
	tok, u, err := s.ConfirmPasswordResetWith(r.Context(), in.Token, in.Password, in.Factor, r.UserAgent())
	if err != nil {
		return err
	}
	s.sessionReply(w, tok, u)
	return nil
}

func (s *Service) handleMagicRequest(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleMagicRequest"
	var in emailOnly
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "magic", in.Email, s.limits.MagicPerIP, s.limits.MagicPerEmail); err != nil {
		return err
	}
	if err := s.RequestMagicLink(r.Context(), in.Email); err != nil {
		return err
	}
	accepted(w)
	return nil
}

func (s *Service) handleMagicConfirm(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleMagicConfirm"
	var in magicConfirm
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "confirm", "", s.limits.ConfirmPerIP, Limit{}); err != nil {
		return err
	}
	tok, u, err := s.ConfirmMagicLinkWith(r.Context(), in.Token, in.Factor, r.UserAgent())
	if err != nil {
		return err
	}
	s.sessionReply(w, tok, u)
	return nil
}

func (s *Service) handleVerify(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "identity.handleVerify"
	var in tokenOnly
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.limitRequest(r, op, "confirm", "", s.limits.ConfirmPerIP, Limit{}); err != nil {
		return err
	}
	u, err := s.VerifyEmail(r.Context(), in.Token)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, userReply{User: u})
	return nil
}

func (s *Service) handleVerifyResend(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "identity.handleVerifyResend"
	if err := s.spend(r.Context(), op, "auth:verify-resend:user:"+a.Principal.User.String(), s.limits.VerifyResendPerUser); err != nil {
		return err
	}
	if err := s.ResendVerification(r.Context(), a.Principal.User); err != nil {
		return err
	}
	accepted(w)
	return nil
}

func (s *Service) handleSessions(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	list, err := s.Sessions(r.Context(), a.Principal)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, sessionList{Items: list})
	return nil
}

func (s *Service) handleRevokeSession(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	var sid id.SessionID
	if err := sid.UnmarshalText([]byte(r.PathValue("session"))); err != nil {
		return guard.NotFound()
	}
	if err := s.RevokeSession(r.Context(), a.Principal, sid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleRevokeOthers(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	n, err := s.RevokeOtherSessions(r.Context(), a.Principal)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, revokedReply{Revoked: n})
	return nil
}

func (s *Service) handleChangePassword(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "identity.handleChangePassword"
	var in passwordChange
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.spend(r.Context(), op, "auth:password-change:user:"+a.Principal.User.String(), s.limits.PasswordChangePerUser); err != nil {
		return err
	}
	tok, err := s.ChangePassword(r.Context(), a.Principal, in.Current, in.New, r.UserAgent())
	if err != nil {
		return err
	}
	u, err := s.UserByID(r.Context(), a.Principal.User)
	if err != nil {
		return err
	}
	s.sessionReply(w, tok, u)
	return nil
}
