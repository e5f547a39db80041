package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda serving the settings routes.
const Function = "workspaces"

// SourceTypes are the IPTC digital source types a workspace may declare
// (migration 0640 checks the same list).
var SourceTypes = []string{
	c2pa.SourceTrainedAlgorithmic, c2pa.SourceCompositeWithTrained, c2pa.SourceCompositeSynthetic,
	"http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia", c2pa.SourceDigitalCapture,
	"http://cv.iptc.org/newscodes/digitalsourcetype/composite",
}

// Settings is a workspace's Content Credentials settings.
type Settings struct {
	// DigitalSourceType is written into every output's actions; null: none.
	DigitalSourceType *string `json:"digital_source_type"`
	// Certificate describes the workspace's own signing certificate, when
	// one was uploaded (null: Framebroker's root issues one per signing).
	Certificate *CertificateInfo `json:"certificate"`
}

// CertificateInfo describes an uploaded signing certificate.
type CertificateInfo struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

type settingsInput struct {
	DigitalSourceType *string `json:"digital_source_type"`
}

type certificateInput struct {
	// ChainPEM is the chain, end entity first, as PEM.
	ChainPEM string `json:"chain_pem"`
}

// Service serves the settings routes.
type Service struct {
	Issuer *Issuer
}

// Routes are the Content Credentials settings routes.
func (s *Service) Routes() []guard.Route {
	return []guard.Route{
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/content-credentials", Policy: guard.Member(guard.Viewer), Handler: s.get, Function: Function,
			Summary: "The workspace's Content Credentials settings", Reply: Settings{}},
		{Method: "PUT", Pattern: "/v1/workspaces/{ws}/content-credentials", Policy: guard.Member(guard.Admin), Handler: s.put, Function: Function,
			Example: `{"digital_source_type":"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}`,
			Summary: "Declare the digital source type written into outputs' C2PA actions (null: none)", Request: settingsInput{}, Reply: Settings{}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/content-credentials/csr", Policy: guard.Member(guard.Admin), Handler: s.csr, Function: Function,
			Summary: "A certificate signing request (PEM) for the workspace's C2PA signing key, for a trust-list CA", ReplyType: "application/pkcs10"},
		{Method: "PUT", Pattern: "/v1/workspaces/{ws}/content-credentials/certificate", Policy: guard.Member(guard.Admin), Handler: s.putCertificate, Function: Function,
			Example: `{"chain_pem":"-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n"}`,
			Summary: "Sign outputs with this certificate chain (end entity first) for the workspace's key", Request: certificateInput{}, Reply: Settings{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/content-credentials/certificate", Policy: guard.Member(guard.Admin), Handler: s.deleteCertificate, Function: Function,
			Summary: "Go back to certificates issued by Framebroker's root", Reply: Settings{}},
	}
}

func load(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (Settings, [][]byte, error) {
	var st Settings
	var chain [][]byte
	err := tx.QueryRow(ctx, `SELECT digital_source_type, certificate_chain FROM content_credentials_settings WHERE workspace_id = $1`, ws).Scan(&st.DigitalSourceType, &chain)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil, nil
	}
	if err != nil {
		return st, nil, err
	}
	if len(chain) > 0 {
		if c, err := x509.ParseCertificate(chain[0]); err == nil {
			st.Certificate = &CertificateInfo{Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter}
		}
	}
	return st, chain, nil
}

func (s *Service) get(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	st, _, err := load(r.Context(), a.Tx, a.Workspace)
	if err != nil {
		return problem.Wrap("credentials.Get", problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, st)
	return nil
}

func (s *Service) put(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "credentials.Put"
	var in settingsInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if in.DigitalSourceType != nil && !slices.Contains(SourceTypes, *in.DigitalSourceType) {
		return problem.Field(op, "digital_source_type", "an IPTC digital source type URI Framebroker writes (trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia, compositeSynthetic, algorithmicMedia, digitalCapture, composite), or null")
	}
	ctx := r.Context()
	if _, err := a.Tx.Exec(ctx, `INSERT INTO content_credentials_settings (workspace_id, digital_source_type) VALUES ($1, $2)
		ON CONFLICT (workspace_id) DO UPDATE SET digital_source_type = $2, updated_at = now()`, a.Workspace, in.DigitalSourceType); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return s.changed(w, r, a, "content_credentials.updated", map[string]any{"digital_source_type": in.DigitalSourceType})
}

// changed records a change in the ledger and answers the settings.
func (s *Service) changed(w http.ResponseWriter, r *http.Request, a *guard.Access, event string, payload map[string]any) error {
	ctx := r.Context()
	if _, err := ledger.Append(ctx, a.Tx, a.Workspace, a.Principal.User.String(), event, a.Workspace.String(), payload); err != nil {
		return problem.Wrap("credentials.Ledger", problem.Internal, err)
	}
	st, _, err := load(ctx, a.Tx, a.Workspace)
	if err != nil {
		return problem.Wrap("credentials.Get", problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, st)
	return nil
}

func (s *Service) csr(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	key, err := s.Issuer.key(r.Context(), a.Workspace)
	if err != nil {
		return problem.Wrap("credentials.CSR", problem.Internal, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "Framebroker workspace " + a.Workspace.String(), Organization: []string{"Framebroker"}, OrganizationalUnit: []string{"Content Credentials"}},
	}, key)
	if err != nil {
		return problem.Wrap("credentials.CSR", problem.Internal, err)
	}
	w.Header().Set("Content-Type", "application/pkcs10")
	_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return nil
}

func (s *Service) putCertificate(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "credentials.PutCertificate"
	var in certificateInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	var chain [][]byte
	rest := []byte(in.ChainPEM)
	for len(chain) <= 8 {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 || len(chain) > 8 {
		return problem.Field(op, "chain_pem", "1 to 8 PEM certificates, the end entity first")
	}
	key, err := s.Issuer.key(r.Context(), a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := CheckChain(chain, &key.PublicKey, time.Now()); err != nil {
		return problem.Field(op, "chain_pem", err.Error())
	}
	if _, err := a.Tx.Exec(r.Context(), `INSERT INTO content_credentials_settings (workspace_id, certificate_chain) VALUES ($1, $2)
		ON CONFLICT (workspace_id) DO UPDATE SET certificate_chain = $2, updated_at = now()`, a.Workspace, chain); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	return s.changed(w, r, a, "content_credentials.certificate_set", map[string]any{"subject": leaf.Subject.String(), "issuer": leaf.Issuer.String(), "not_after": leaf.NotAfter})
}

func (s *Service) deleteCertificate(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	if _, err := a.Tx.Exec(r.Context(), `UPDATE content_credentials_settings SET certificate_chain = NULL, updated_at = now() WHERE workspace_id = $1`, a.Workspace); err != nil {
		return problem.Wrap("credentials.DeleteCertificate", problem.Internal, err)
	}
	return s.changed(w, r, a, "content_credentials.certificate_removed", map[string]any{})
}

// CheckChain checks an uploaded chain: parseable, the end entity first and
// certifying pub, valid at now, and meeting the C2PA claim-signer profile
// (end entity, digitalSignature, emailProtection or documentSigning).
func CheckChain(chain [][]byte, pub *ecdsa.PublicKey, now time.Time) error {
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("the first certificate does not parse: %v", err)
	}
	for i, d := range chain[1:] {
		if _, err := x509.ParseCertificate(d); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", i+2, err)
		}
	}
	lk, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !lk.Equal(pub) {
		return errors.New("the end-entity certificate is not for this workspace's signing key (use GET …/content-credentials/csr)")
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return errors.New("the end-entity certificate is not valid now")
	}
	if err := c2pa.CheckSignerProfile(leaf); err != nil {
		return err
	}
	return nil
}

// chainFor is the workspace's uploaded chain, if any and still for key.
func chainFor(ctx context.Context, pool *pgxpool.Pool, ws id.WorkspaceID, key *ecdsa.PrivateKey) ([][]byte, error) {
	var chain [][]byte
	err := db.InWorkspace(ctx, pool, ws.UUID().String(), func(tx pgx.Tx) error {
		var err error
		_, chain, err = load(ctx, tx, ws)
		return err
	})
	if err != nil || len(chain) == 0 {
		return nil, err
	}
	if CheckChain(chain, &key.PublicKey, time.Now()) != nil {
		return nil, nil // rotated key or expired: fall back to the root's
	}
	return chain, nil
}
