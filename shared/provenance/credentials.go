package provenance

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/problem"
)

// MaxCredentialsBody bounds a file sent to POST
// /v1/provenance/credentials/verify (what an API Gateway request can carry);
// larger files verify offline with `framebroker provenance verify FILE`.
const MaxCredentialsBody = 6 << 20

// VerifyCredentials checks the Content Credentials embedded in a file,
// trusting certificates issued by keys.
func VerifyCredentials(r io.ReaderAt, size int64, keys keyring.Set) (c2pa.Report, error) {
	return c2pa.Verify(r, size, c2pa.VerifyOptions{TrustLeaf: credentials.IssuedBy(keys)})
}

// verifyCredentials serves POST /v1/provenance/credentials/verify: the file
// in (≤ MaxCredentialsBody), the report out. A file without credentials or
// that is neither MP4 nor JPEG is a 422.
func (s *Service) verifyCredentials(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "provenance.VerifyCredentials"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCredentialsBody))
	if err != nil {
		return problem.E(op, problem.TooLarge, "the file is too large to verify here; use `framebroker provenance verify FILE`")
	}
	keys, err := s.keys.PublicKeys(r.Context())
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	rep, err := VerifyCredentials(bytes.NewReader(body), int64(len(body)), keys)
	if errors.Is(err, c2pa.ErrNoManifest) {
		return problem.NoContentCredentials.E(op, "the file carries no Content Credentials")
	}
	if err != nil {
		return problem.MediaUnreadable.E(op, "the file is not an MP4 or JPEG this service can read")
	}
	httpx.JSON(w, http.StatusOK, rep)
	return nil
}

// credentialsRoot serves GET /v1/provenance/credentials/root.pem: every
// Content Credentials root certificate still valid, as a PEM bundle for a
// C2PA reader's trust anchors — the current root first, then the roots over
// keys retired by a keyring rotation (outputs signed before it chain to
// them; see credentials.Issuer.Roots and credentials.IssuedBy).
func (s *Service) credentialsRoot(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	roots, err := (&credentials.Issuer{Keys: s.keys}).Roots(r.Context())
	if err != nil {
		return problem.Wrap("provenance.CredentialsRoot", problem.Internal, err)
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "public, max-age=300")
	for _, ca := range roots {
		_, _ = w.Write(ca.PEM())
	}
	return nil
}
