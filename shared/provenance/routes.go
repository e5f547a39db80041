package provenance

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/problem"
)

// Lambda functions serving the routes.
const (
	Function        = "provenance" // public routes
	ReleaseFunction = "releases"   // publish and shot outputs
)

// TrailDigester gives the SHA-256 (hex) of a job's audit trail (T-05). The
// encode pipeline provides it; until then manifests list no jobs.
type TrailDigester interface {
	TrailSHA256(ctx context.Context, tx pgx.Tx, job uuid.UUID) (string, error)
}

// Service serves publishing and the public provenance routes.
type Service struct {
	pool *pgxpool.Pool
	keys keyring.Provider
	// Trails, when set, digests the trails of the jobs behind outputs.
	Trails TrailDigester
}

// NewService returns a Service signing with keys.
func NewService(pool *pgxpool.Pool, keys keyring.Provider) *Service {
	return &Service{pool: pool, keys: keys}
}

// Routes are the provenance routes: publishing and shot outputs (members),
// and the public keys, verify and manifest routes.
func (s *Service) Routes() []guard.Route {
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/releases/{release}/publish", Policy: guard.Member(guard.Editor), Handler: s.publish, Function: ReleaseFunction,
			Summary: "Publish a release: sign its manifest (DSSE: HMAC-SHA256 and Ed25519)", Reply: Published{}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/shots/{shot}/outputs", Policy: guard.Member(guard.Editor), Handler: s.linkOutput, Function: ReleaseFunction,
			Example: `{"asset":"ast_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f"}`,
			Summary: "Name a job output as the shot's render", Request: linkInput{}, Reply: ShotOutput{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/shots/{shot}/outputs", Policy: guard.Member(guard.Viewer), Handler: s.listOutputs, Function: ReleaseFunction,
			Summary: "A shot's renders", Reply: outputList{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/shots/{shot}/outputs/{asset}", Policy: guard.Member(guard.Editor), Handler: s.unlinkOutput, Function: ReleaseFunction,
			Summary: "Unlink a render from a shot", Status: http.StatusNoContent},
		{Method: "GET", Pattern: "/v1/provenance/keys", Policy: guard.Public(), Handler: s.publicKeys, Function: Function,
			Summary: "The Ed25519 public keys that sign manifests and ledger checkpoints", Reply: keyring.Set{}},
		{Method: "POST", Pattern: "/v1/provenance/verify", Policy: guard.Public(), Handler: s.verify, Function: Function,
			Summary: "Verify a signed manifest envelope (any body: a malformed one fails the named checks)", Request: json.RawMessage{}, Reply: Result{}},
		{Method: "POST", Pattern: "/v1/provenance/credentials/verify", Policy: guard.Public(), Handler: s.verifyCredentials, Function: Function,
			Summary: "Check the Content Credentials (C2PA) embedded in an MP4 or JPEG sent as the raw body (at most 6 MiB)", Reply: c2pa.Report{},
			RequestTypes: []string{"video/mp4", "image/jpeg", "application/octet-stream"}},
		{Method: "GET", Pattern: "/v1/provenance/credentials/root.pem", Policy: guard.Public(), Handler: s.credentialsRoot, Function: Function,
			Summary: "The Content Credentials root certificates still valid (PEM bundle, current first, then those of retired keys): C2PA trust anchors", ReplyType: "application/x-pem-file"},
		{Method: "GET", Pattern: "/v1/provenance/{release}", Policy: guard.Public(), Handler: s.get, Function: Function,
			Summary: "A published release's signed manifest envelope", Reply: Envelope{}},
	}
}

// get serves GET /v1/provenance/keys and GET /v1/provenance/{release}.
func (s *Service) get(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "provenance.Get"
	ref := r.PathValue("release")
	var rel id.ReleaseID
	if err := rel.UnmarshalText([]byte(ref)); err != nil {
		return guard.NotFound()
	}
	env, err := s.stored(r.Context(), rel)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(env)
	return nil
}

// stored is the envelope stored for a published release.
func (s *Service) stored(ctx context.Context, rel id.ReleaseID) ([]byte, error) {
	var env []byte
	if err := s.pool.QueryRow(ctx, `SELECT provenance_envelope($1)`, rel).Scan(&env); err != nil {
		return nil, problem.Wrap("provenance.stored", problem.Internal, err)
	}
	if env == nil {
		return nil, guard.NotFound()
	}
	return env, nil
}

// verify serves POST /v1/provenance/verify: the envelope in, every check
// out. Beyond the offline checks, the service checks the HMAC and that the
// payload is the one stored for the release ("stored").
// publicKeys serves every Ed25519 key ever in service, with its validity
// window, for offline verification.
func (s *Service) publicKeys(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	set, err := s.keys.PublicKeys(r.Context())
	if err != nil {
		return problem.Wrap("provenance.Keys", problem.Internal, err)
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.JSON(w, http.StatusOK, set)
	return nil
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "provenance.Verify"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnvelope))
	if err != nil {
		return problem.E(op, problem.TooLarge, "the envelope is too large")
	}
	keys, err := s.keys.PublicKeys(r.Context())
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	res := Verify(body, Options{Keys: keys, HMACMaster: func(kid string) ([]byte, error) {
		_, k, err := s.keys.HMAC(r.Context(), kid)
		return k, err
	}})
	if res.Manifest != nil {
		ok, detail := s.matchesStored(r.Context(), res.Manifest.Release, body)
		res.Checks = append(res.Checks, Check{Name: "stored", OK: ok, Detail: detail})
		res.Valid = res.Valid && ok
	}
	httpx.JSON(w, http.StatusOK, res)
	return nil
}

func (s *Service) matchesStored(ctx context.Context, rel id.ReleaseID, body []byte) (bool, string) {
	stored, err := s.stored(ctx, rel)
	if errors.Is(err, guard.NotFound()) {
		return false, "no release " + rel.String() + " was published here"
	}
	if err != nil {
		return false, "could not read the stored manifest"
	}
	a, err1 := ParseEnvelope(stored)
	b, err2 := ParseEnvelope(body)
	if err1 != nil || err2 != nil || string(a.Payload) != string(b.Payload) {
		return false, "the payload differs from the manifest published for " + rel.String()
	}
	return true, ""
}
