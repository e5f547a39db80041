// Package webhook delivers workspace events to customers' HTTPS endpoints in
// the Standard Webhooks format (T-08): per-endpoint secrets ("whsec_…",
// shown once, sealed at rest with AES-GCM), event-type filters, secret
// rotation with an overlap window in which both signatures are sent, an
// outbox written in the transaction of the event (Enqueue), and a
// dispatcher that retries on a schedule, honours Retry-After, isolates
// endpoints from one another, refuses internal addresses after DNS
// resolution, and disables an endpoint after 410 Gone or 10 consecutive
// failures, telling the workspace owners by email. Verifier is the
// receiving side, for customers and tests.
package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail"
)

// Function is the Lambda that serves the webhook routes.
const Function = "webhooks"

// Recorder appends an event to the workspace's ledger inside tx. It is the
// seam to the ledger (ledger.Append): the composition root passes it in.
type Recorder func(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, actor, typ, subject string, payload any) error

// LogRecorder is the Recorder used while no ledger is wired: it logs the
// event type and subject (never the payload) and records nothing.
func LogRecorder(ctx context.Context, _ pgx.Tx, ws id.WorkspaceID, actor, typ, subject string, _ any) error {
	slog.InfoContext(ctx, "ledger event (no ledger wired)", "workspace", ws.String(), "actor", actor, "type", typ, "subject", subject)
	return nil
}

// Config wires a Service.
type Config struct {
	Pool   *pgxpool.Pool
	Cipher *Cipher
	// Addresses is the SSRF policy for endpoint URLs and deliveries.
	Addresses AddressPolicy
	// Mail queues the owners' notice when an endpoint is disabled, in the
	// disabling transaction (nil: no notice).
	Mail mail.Queue
	// Owners are the addresses the disabled-endpoint notice goes to (the
	// workspace's owners: tenancy.OwnerEmails); nil: no notice.
	Owners func(ctx context.Context, q db.Querier, ws id.WorkspaceID) ([]string, error)
	// Record appends ledger events; nil: LogRecorder.
	Record Recorder
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Service serves the webhook routes and owns the dispatcher's store.
type Service struct {
	pool   *pgxpool.Pool
	cipher *Cipher
	addrs  AddressPolicy
	mail   mail.Queue
	owners func(ctx context.Context, q db.Querier, ws id.WorkspaceID) ([]string, error)
	record Recorder
	now    func() time.Time
}

// NewService returns a Service.
func NewService(c Config) *Service {
	s := &Service{pool: c.Pool, cipher: c.Cipher, addrs: c.Addresses, mail: c.Mail, owners: c.Owners, record: c.Record, now: c.Now}
	if s.mail == nil {
		s.mail = mail.NoQueue{}
	}
	if s.record == nil {
		s.record = LogRecorder
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Routes are the webhook routes: admins change endpoints, viewers read them
// and their delivery records.
func (s *Service) Routes() []guard.Route {
	const base = "/v1/workspaces/{ws}/webhooks"
	rs := []guard.Route{
		{Method: "POST", Pattern: base, Policy: guard.Member(guard.Admin), Handler: s.create,
			Example: `{"url":"https://hooks.example.com/framebroker","events":["job.completed"],"description":"CI"}`,
			Summary: "Add an endpoint; its whsec_ secret is shown once", Request: createInput{}, Reply: Endpoint{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: base, Policy: guard.Member(guard.Viewer), Read: readEndpoints,
			Summary: "The workspace's endpoints", Reply: httpx.List[Endpoint]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: base + "/{hook}", Policy: guard.Member(guard.Viewer), Read: readEndpoint,
			Summary: "An endpoint", Reply: Endpoint{}},
		{Method: "PATCH", Pattern: base + "/{hook}", Policy: guard.Member(guard.Admin), Handler: s.update,
			Example: `{"enabled":false}`,
			Summary: "Change an endpoint", Request: updateInput{}, Reply: Endpoint{}},
		{Method: "DELETE", Pattern: base + "/{hook}", Policy: guard.Member(guard.Admin), Handler: s.delete,
			Summary: "Delete an endpoint", Status: http.StatusNoContent},
		{Method: "POST", Pattern: base + "/{hook}/rotate-secret", Policy: guard.Member(guard.Admin), Handler: s.rotate,
			Example: `{"overlap_seconds":86400}`,
			Summary: "Rotate the secret (the old one keeps signing during the overlap)", Request: rotateInput{}, Reply: Endpoint{}},
		{Method: "GET", Pattern: base + "/{hook}/deliveries", Policy: guard.Member(guard.Viewer), Handler: s.deliveries,
			Summary: "An endpoint's deliveries", Reply: httpx.List[Delivery]{}, Query: []string{"limit", "cursor", "status"}},
		{Method: "POST", Pattern: base + "/{hook}/test", Policy: guard.Member(guard.Admin), Handler: s.test,
			Summary: "Send a webhook.test event to this endpoint", Reply: testReply{}, Status: http.StatusAccepted},
		{Method: "POST", Pattern: base + "/{hook}/resend", Policy: guard.Member(guard.Admin), Handler: s.resend,
			Example: `{"delivery":"dlv_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f"}`,
			Summary: "Deliver again", Request: resendInput{}, Reply: resendReply{}, Status: http.StatusAccepted},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}
