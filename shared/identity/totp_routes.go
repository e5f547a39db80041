package identity

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
)

type codeOnly struct {
	Code string `json:"code"`
}

func (s *Service) handleTOTPEnroll(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	e, err := s.EnrollTOTP(r.Context(), a.Principal)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, e)
	return nil
}

func (s *Service) handleTOTPConfirm(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	var in codeOnly
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	codes, err := s.ConfirmTOTP(r.Context(), a.Principal, in.Code)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, totpConfirmed{Enabled: true, RecoveryCodes: codes})
	return nil
}

func (s *Service) handleTOTPDisable(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	var in codeOnly
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.DisableTOTP(r.Context(), a.Principal, in.Code); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
