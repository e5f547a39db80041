package webhook

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// Endpoint is a webhook endpoint as the API shows it. Secret is set only in
// the replies to creation and rotation: it is never shown again.
type Endpoint struct {
	ID                  id.WebhookID `json:"id"`
	URL                 string       `json:"url"`
	Description         string       `json:"description"`
	Events              []string     `json:"events"`
	Enabled             bool         `json:"enabled"`
	DisabledReason      string       `json:"disabled_reason,omitempty"`
	ConsecutiveFailures int          `json:"consecutive_failures"`
	PreviousSecretUntil *time.Time   `json:"previous_secret_expires_at,omitempty"`
	CreatedAt           time.Time    `json:"created_at"`
	UpdatedAt           time.Time    `json:"updated_at"`
	Secret              string       `json:"secret,omitempty"`
}

const endpointCols = `id, url, description, event_types, enabled, coalesce(disabled_reason, ''), consecutive_failures,
	CASE WHEN prev_secret_until > now() THEN prev_secret_until END, created_at, updated_at`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.Events, &e.Enabled, &e.DisabledReason, &e.ConsecutiveFailures,
		&e.PreviousSecretUntil, &e.CreatedAt, &e.UpdatedAt)
	return e, err
}

// maxEventFilters bounds an endpoint's filter list.
const maxEventFilters = 50

// eventPrefixRE is a filter for every type under a prefix, e.g. "job.*".
var eventPrefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*$`)

// validEvents checks an event filter list: exact types or "prefix.*".
func validEvents(op string, evs []string) ([]string, error) {
	if len(evs) > maxEventFilters {
		return nil, problem.Field(op, "events", "at most 50 event types")
	}
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		if !ValidEventType(e) && !eventPrefixRE.MatchString(e) {
			return nil, problem.Field(op, "events", "each must be an event type such as job.completed, or a prefix such as job.*")
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *Service) validURL(op, raw string) (string, error) {
	u, err := s.addrs.ValidateURL(raw)
	if err != nil {
		return "", problem.Field(op, "url", err.Error())
	}
	return u.String(), nil
}

func validDescription(op string, d *string) (string, error) {
	if d == nil {
		return "", nil
	}
	if utf8.RuneCountInString(*d) > 500 || !utf8.ValidString(*d) {
		return "", problem.Field(op, "description", "must be at most 500 characters")
	}
	return *d, nil
}

// redactedURL is the URL without query or credentials, for ledger events
// (a query string may carry the receiver's own token).
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

func actor(a *guard.Access) string { return a.Principal.User.String() }

// createInput adds an endpoint.
type createInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description *string  `json:"description"`
}

// updateInput changes an endpoint; absent fields stay.
type updateInput struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// rotateInput rotates a secret; the old one also signs for the overlap.
type rotateInput struct {
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

func (s *Service) create(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.CreateEndpoint"
	var in createInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.validURL(op, in.URL)
	if err != nil {
		return err
	}
	evs, err := validEvents(op, in.Events)
	if err != nil {
		return err
	}
	desc, err := validDescription(op, in.Description)
	if err != nil {
		return err
	}
	hook := id.New[id.WebhookID]()
	secret := NewSecret()
	sealed, err := s.cipher.Seal(secret, adFor(hook))
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	e, err := scanEndpoint(a.Tx.QueryRow(r.Context(), `INSERT INTO webhook_endpoints
		(id, workspace_id, url, description, event_types, secret_enc, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+endpointCols,
		hook, a.Workspace, u, desc, evs, sealed, a.Principal.User))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := s.record(r.Context(), a.Tx, a.Workspace, actor(a), "webhook.endpoint_created", hook.String(),
		map[string]any{"url": redactedURL(u), "events": evs}); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	e.Secret = secret.String()
	httpx.JSON(w, http.StatusCreated, e)
	return nil
}

// adFor is the additional data binding a sealed secret to its endpoint.
func adFor(hook id.WebhookID) []byte { u := hook.UUID(); return u[:] }

// readEndpoints lists the workspace's endpoints, pipelined with the
// guard's checks (one round trip).
var readEndpoints = guard.ReadPage("webhook.ListEndpoints", func(a *guard.Access) (string, []any) {
	return `SELECT ` + endpointCols + ` FROM webhook_endpoints
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`, []any{a.Workspace}
}, scanEndpoint, func(e Endpoint) uuid.UUID { return e.ID.UUID() })

// readEndpoint reads the path's endpoint, pipelined with the guard's checks.
var readEndpoint = guard.ReadOne("webhook.GetEndpoint", func(a *guard.Access) (string, []any) {
	return `SELECT ` + endpointCols + ` FROM webhook_endpoints
		WHERE workspace_id = $1 AND id = $2`, []any{a.Workspace, a.Webhook()}
}, scanEndpoint)

func (s *Service) update(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.UpdateEndpoint"
	var in updateInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	var (
		u    *string
		evs  []string
		desc *string
	)
	changed := map[string]any{}
	if in.URL != nil {
		v, err := s.validURL(op, *in.URL)
		if err != nil {
			return err
		}
		u, changed["url"] = &v, redactedURL(v)
	}
	if in.Events != nil {
		v, err := validEvents(op, *in.Events)
		if err != nil {
			return err
		}
		evs, changed["events"] = v, v
	}
	if in.Description != nil {
		v, err := validDescription(op, in.Description)
		if err != nil {
			return err
		}
		desc = &v
		changed["description"] = true
	}
	if in.Enabled != nil {
		changed["enabled"] = *in.Enabled
	}
	// Re-enabling closes the circuit breaker: the failure count restarts.
	e, err := scanEndpoint(a.Tx.QueryRow(r.Context(), `UPDATE webhook_endpoints SET
		url = coalesce($3, url),
		event_types = CASE WHEN $4::boolean THEN $5::text[] ELSE event_types END,
		description = coalesce($6, description),
		enabled = coalesce($7, enabled),
		disabled_reason = CASE WHEN $7 IS NULL THEN disabled_reason WHEN $7 THEN NULL ELSE 'disabled by a member' END,
		consecutive_failures = CASE WHEN $7 THEN 0 ELSE consecutive_failures END,
		updated_at = now()
		WHERE workspace_id = $1 AND id = $2 RETURNING `+endpointCols,
		a.Workspace, a.Webhook(), u, in.Events != nil, evs, desc, in.Enabled))
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if len(changed) > 0 {
		if err := s.record(r.Context(), a.Tx, a.Workspace, actor(a), "webhook.endpoint_updated", a.Webhook().String(), changed); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
	}
	if e.Enabled {
		// Re-enabled (or edited while enabled): deliveries it kept pending
		// while disabled are claimable again.
		if err := wake.AfterCommit(r.Context(), a.Tx, wake.WebhookRetries); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
	}
	httpx.JSON(w, http.StatusOK, e)
	return nil
}

func (s *Service) delete(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.DeleteEndpoint"
	tag, err := a.Tx.Exec(r.Context(), `DELETE FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2`, a.Workspace, a.Webhook())
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if tag.RowsAffected() == 0 {
		return guard.NotFound()
	}
	if err := s.record(r.Context(), a.Tx, a.Workspace, actor(a), "webhook.endpoint_deleted", a.Webhook().String(), map[string]any{}); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Rotation overlap bounds.
const (
	DefaultOverlap = 24 * time.Hour
	MaxOverlap     = 7 * 24 * time.Hour
)

func (s *Service) rotate(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.RotateSecret"
	var in rotateInput
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			return err
		}
	}
	overlap := DefaultOverlap
	if in.OverlapSeconds != nil {
		if *in.OverlapSeconds < 0 || time.Duration(*in.OverlapSeconds)*time.Second > MaxOverlap {
			return problem.Field(op, "overlap_seconds", "must be from 0 to 604800 (7 days)")
		}
		overlap = time.Duration(*in.OverlapSeconds) * time.Second
	}
	secret := NewSecret()
	sealed, err := s.cipher.Seal(secret, adFor(a.Webhook()))
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	// The current secret becomes the previous one for the overlap window;
	// a previous secret still in its own window is dropped.
	e, err := scanEndpoint(a.Tx.QueryRow(r.Context(), `UPDATE webhook_endpoints SET
		prev_secret_enc = CASE WHEN $4 > 0 THEN secret_enc END,
		prev_secret_until = CASE WHEN $4 > 0 THEN now() + make_interval(secs => $4) END,
		secret_enc = $3, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 RETURNING `+endpointCols,
		a.Workspace, a.Webhook(), sealed, overlap.Seconds()))
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if err := s.record(r.Context(), a.Tx, a.Workspace, actor(a), "webhook.secret_rotated", a.Webhook().String(),
		map[string]any{"overlap_seconds": int64(overlap.Seconds())}); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	e.Secret = secret.String()
	httpx.JSON(w, http.StatusOK, e)
	return nil
}
