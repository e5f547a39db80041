package guard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// Level is what a Policy requires of the caller.
type Level uint8

// Policy levels. The zero Level is "no policy", which the table refuses.
const (
	levelUnset Level = iota
	LevelPublic
	LevelAuthenticated
	LevelMember
	// LevelInternal routes are called by the platform (EventBridge crons,
	// admin tooling), not by users: the caller proves itself with a shared
	// secret in a header, compared in constant time (T-09).
	LevelInternal
)

// Policy is a route's guard.
type Policy struct {
	Level   Level
	MinRole Role // for LevelMember

	// For LevelInternal: the header that carries the secret, and the
	// SHA-256 of the secret (hashing gives both sides the same length, so
	// the comparison leaks neither content nor length). hasSecret is false
	// when no secret is configured: every call is then refused.
	secretHeader string
	secretSum    [32]byte
	hasSecret    bool
}

// Public routes need no credentials (health, signup, login, provenance).
func Public() Policy { return Policy{Level: LevelPublic} }

// Authenticated routes need a valid session but no workspace.
func Authenticated() Policy { return Policy{Level: LevelAuthenticated} }

// Member routes need a session whose user is a member of {ws} with at least
// role min; every other path parameter must name a row of {ws}.
func Member(min Role) Policy { return Policy{Level: LevelMember, MinRole: min} }

// Internal routes need header to carry exactly secret, compared in constant
// time; a missing or wrong secret is answered 401 and the handler does not
// run. An empty secret refuses every call (fail closed), so a deployment that
// forgot to configure it exposes nothing. They may not name {ws}; the handler
// gets a nil Access and runs without a transaction.
func Internal(header string, secret []byte) Policy {
	p := Policy{Level: LevelInternal, secretHeader: header, hasSecret: len(secret) > 0}
	if p.hasSecret {
		p.secretSum = sha256.Sum256(secret)
	}
	return p
}

// allows reports whether r carries the internal policy's secret.
func (p Policy) allows(r *http.Request) bool {
	got := r.Header.Get(p.secretHeader)
	sum := sha256.Sum256([]byte(got))
	ok := subtle.ConstantTimeCompare(sum[:], p.secretSum[:]) == 1
	return ok && p.hasSecret && got != ""
}

func (p Policy) String() string {
	switch p.Level {
	case LevelPublic:
		return "public"
	case LevelAuthenticated:
		return "authenticated"
	case LevelMember:
		return "member:" + p.MinRole.String()
	case LevelInternal:
		return "internal"
	}
	return "unset"
}

// Access is what a guarded handler receives: who is calling and, for member
// routes, the workspace, their role, the already-checked path resources, and
// the transaction (scoped to the workspace by row-level security) in which
// the checks ran. The guard commits it after the handler returns nil and
// rolls it back otherwise. Work that must not happen for a request that
// rolls back (starting an execution, delivering mail) is registered on it
// with db.AfterCommit: it runs after the commit, before the reply is sent,
// and an error it returns becomes the reply.
type Access struct {
	Principal Principal
	Workspace id.WorkspaceID
	Role      Role
	Tx        pgx.Tx
	ids       map[string]uuid.UUID
}

// Project is the {project} of the path.
func (a *Access) Project() id.ProjectID { return id.FromUUID[id.ProjectID](a.ids["project"]) }

// Shot is the {shot} of the path.
func (a *Access) Shot() id.ShotID { return id.FromUUID[id.ShotID](a.ids["shot"]) }

// Release is the {release} of the path.
func (a *Access) Release() id.ReleaseID { return id.FromUUID[id.ReleaseID](a.ids["release"]) }

// Asset is the {asset} of the path.
func (a *Access) Asset() id.AssetID { return id.FromUUID[id.AssetID](a.ids["asset"]) }

// Job is the {job} of the path.
func (a *Access) Job() id.JobID { return id.FromUUID[id.JobID](a.ids["job"]) }

// Member is the {user} of the path: a member of the workspace.
func (a *Access) Member() id.UserID { return id.FromUUID[id.UserID](a.ids["user"]) }

// Invitation is the {invitation} of the path: an invitation of the workspace.
func (a *Access) Invitation() id.InviteID { return id.FromUUID[id.InviteID](a.ids["invitation"]) }

// Webhook is the {hook} of the path: a webhook endpoint of the workspace.
func (a *Access) Webhook() id.WebhookID { return id.FromUUID[id.WebhookID](a.ids["hook"]) }

// HandlerFunc handles a guarded request. a is nil on public routes. An
// error is answered as problem+json; nothing the handler wrote is sent then.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, a *Access) error

// ReadFunc queues a read route's queries on b, the batch that carries the
// guard's checks, and returns the handler that writes the reply from what
// their callbacks stored. At queue time a holds the workspace and the path
// resources; its Principal and Role are filled in when the checks' result
// arrives, before any of the callbacks queued here runs (so the queries
// must not depend on the caller). The callbacks run only if the checks
// passed — if they did not, the guard also clears the workspace scope
// before the queued queries run, so row-level security shows them nothing.
// The returned handler gets a nil a.Tx: the transaction has committed.
type ReadFunc func(r *http.Request, a *Access, b *pgx.Batch) HandlerFunc

// Route is one row of the router table.
type Route struct {
	Method  string // GET, POST, …
	Pattern string // Go ServeMux path pattern, e.g. /v1/workspaces/{ws}/projects/{project}
	Policy  Policy
	Handler HandlerFunc
	// Function is the Lambda that serves the route in AWS.
	Function string
	// Example is a valid JSON request body, for docs, sample events and the
	// IDOR suite (which sends it so a refusal cannot come from validation).
	Example string
	// NoTx routes get no surrounding transaction (Access.Tx is nil): the
	// guard checks membership in a short read-only transaction of its own
	// and releases it before the handler runs. For handlers that call the
	// network (Stripe, S3) and must not hold a connection or locks while
	// they wait; they open their own short transactions. Their reply is
	// still buffered, so an error is answered as problem+json.
	NoTx bool
	// Stream routes write their reply directly (no buffering), for long or
	// large responses. A streamed reply cannot be withdrawn once started,
	// so Stream implies NoTx.
	Stream bool
	// Membership routes change who belongs to the workspace or with which
	// role. Membership changes are serialised per workspace: before its
	// check, a Membership route takes the workspace's membership lock
	// exclusively and every other write (a buffered, transactional route
	// other than GET/HEAD) takes it shared, both until commit. So a
	// membership change waits for the writes in flight, and any write or
	// membership change after it commits is checked against the new
	// membership: a removed member can do nothing once the removal has
	// committed, and two changes never both pass on a stale view (the
	// "at least one owner" rule holds). Must not be NoTx or Stream.
	Membership bool
	// DuringDeletion lets a mutating member route run on a workspace
	// scheduled for deletion (the deletion request and its cancellation).
	// Every other POST, PUT, PATCH and DELETE is refused with 409 then: a
	// workspace in its grace period is read-only (see shared/privacy).
	DuringDeletion bool
	// Read, on a buffered GET member route, is the route's handler split
	// in two so its queries travel with the guard's checks: the whole
	// request — BEGIN READ ONLY, workspace scope, session, membership and
	// resource checks, Read's queries, COMMIT — is ONE pipelined batch, one
	// round trip to Postgres. Handler is then unused and may be nil.
	Read ReadFunc
	// Limit, if set, rate-limits the route: the guard calls it after
	// authentication and (for member routes) the membership check, before
	// the handler. Only authenticated and member routes may have one.
	Limit Limiter

	// The API document (shared/openapi) is generated from these; the test
	// harness validates every request and reply of the suite against it.
	//
	// Summary is one line for the document. Request is the zero value of
	// the JSON request body type (nil: no body); Reply the zero value of the
	// success reply type (nil: no body, or a ReplyType body). Status is the
	// success status (0: 200). ReplyType is the media type of a reply that
	// is not JSON (text/html for pages, application/jsonl for exports).
	// Query names the query parameters the route reads ("limit" and
	// "cursor" are the pagination pair). RequestTypes are the media types
	// of a request body that is not JSON (a raw file, e.g. video/mp4),
	// documented as binary; Request is then nil.
	Summary      string
	Request      any
	RequestTypes []string
	Reply        any
	Status       int
	ReplyType    string
	Query        []string
	// SeeOther routes answer a browser (Accept: text/html) with 303 to a
	// page of the web app instead of the JSON reply.
	SeeOther bool
	// AlsoStatus lists other success statuses, answered with the same
	// Reply type (e.g. 202 when work continues in the background).
	AlsoStatus []int
}

// SuccessStatus is the status the route answers on success.
func (rt Route) SuccessStatus() int {
	if rt.Status == 0 {
		return http.StatusOK
	}
	return rt.Status
}

// SecretHeader is the header an internal policy reads its secret from.
func (p Policy) SecretHeader() string { return p.secretHeader }

// Limiter spends a caller's allowance for a route (T-10). It may set
// response headers (RateLimit, RateLimit-Policy); an error, normally of kind
// problem.RateLimited with a RetryAfter, refuses the request. On buffered
// member routes a.Tx is set and the limiter should spend in it (so it
// never holds a second pool connection; the spend then commits with the
// request); on Stream and authenticated-only routes a.Tx is nil and the
// guard holds no connection while it runs.
type Limiter interface {
	Limit(ctx context.Context, h http.Header, a *Access) error
}

// Params returns the names of the path parameters in the route's pattern.
func (rt Route) Params() []string {
	var out []string
	for _, m := range paramRE.FindAllStringSubmatch(rt.Pattern, -1) {
		out = append(out, strings.TrimSuffix(m[1], "..."))
	}
	return out
}

var paramRE = regexp.MustCompile(`\{([^}]+)\}`)

// Authenticator turns a bearer token into a Principal; it returns an error of
// kind problem.Unauthenticated for a bad, expired or revoked token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// SessionBatcher is an Authenticator whose session look-up can be sent in
// the guard's batch, with the membership and resource checks (one round
// trip for the whole check; for Read routes, for the whole request). The
// session is still looked up in SQL on every request: a revoked session
// fails on its next request.
type SessionBatcher interface {
	Authenticator
	// SessionSQL is a query yielding at most one row (id uuid, user_id
	// uuid, stale bool) for the token's live session; its parameters are
	// numbered from $first. It must only read.
	SessionSQL(first int) string
	// SessionArgs returns the values of SessionSQL's parameters for token,
	// or an Unauthenticated error for a token that cannot be valid.
	SessionArgs(token string) ([]any, error)
	// NoSession is the error for a token SessionSQL found no row for.
	NoSession() error
	// TouchSession records the session's use; the guard calls it after
	// the reply when SessionSQL said stale.
	TouchSession(ctx context.Context, s id.SessionID) error
}

// Validate checks one route: it has a policy and a handler, a member route
// names {ws}, every other parameter is a known resource, and routes without
// {ws} are not member routes.
func (rt Route) Validate() error {
	if rt.Policy.Level == levelUnset {
		return fmt.Errorf("route %s %s declares no guard policy", rt.Method, rt.Pattern)
	}
	if rt.Handler == nil && rt.Read == nil {
		return fmt.Errorf("route %s %s has no handler", rt.Method, rt.Pattern)
	}
	if rt.Read != nil && (rt.Method != http.MethodGet || rt.Policy.Level != LevelMember || rt.NoTx || rt.Stream || rt.Limit != nil) {
		return fmt.Errorf("route %s %s: Read needs a buffered GET member route without a rate limit", rt.Method, rt.Pattern)
	}
	hasWS := false
	for _, p := range rt.Params() {
		if p == WorkspaceParam {
			hasWS = true
			continue
		}
		if _, ok := resources[p]; !ok && rt.Policy.Level == LevelMember {
			return fmt.Errorf("route %s %s: path parameter {%s} is not a guarded resource (add it to guard.resources)", rt.Method, rt.Pattern, p)
		}
	}
	if hasWS && rt.Policy.Level != LevelMember {
		return fmt.Errorf("route %s %s names {ws} but its policy is %s, not a member policy", rt.Method, rt.Pattern, rt.Policy)
	}
	if rt.Policy.Level == LevelMember && !hasWS {
		return fmt.Errorf("route %s %s has a member policy but no {ws}", rt.Method, rt.Pattern)
	}
	if rt.Policy.Level == LevelInternal && rt.Policy.secretHeader == "" {
		return fmt.Errorf("route %s %s: internal policy without a secret header", rt.Method, rt.Pattern)
	}
	if rt.Limit != nil && rt.Policy.Level != LevelMember && rt.Policy.Level != LevelAuthenticated {
		return fmt.Errorf("route %s %s: a rate limit needs an authenticated caller, the policy is %s", rt.Method, rt.Pattern, rt.Policy)
	}
	if rt.Membership && (rt.NoTx || rt.Stream || rt.Policy.Level != LevelMember || rt.Method == http.MethodGet || rt.Method == http.MethodHead) {
		return fmt.Errorf("route %s %s: a membership route must be a transactional member write", rt.Method, rt.Pattern)
	}
	if rt.Policy.Level == LevelMember && rt.Policy.MinRole == RoleNone {
		return fmt.Errorf("route %s %s: member policy without a minimum role", rt.Method, rt.Pattern)
	}
	return nil
}

// NewMux builds the handler serving routes. It fails if any route is
// invalid (see Route.Validate) or two routes collide. Unknown paths and
// methods are answered with problem+json 404 and 405.
func NewMux(routes []Route, authn Authenticator, pool *pgxpool.Pool) (http.Handler, error) {
	mux := http.NewServeMux()
	for _, rt := range routes {
		if err := rt.Validate(); err != nil {
			return nil, err
		}
		g := &guarded{route: rt, authn: authn, pool: pool}
		g.batcher, _ = authn.(SessionBatcher)
		if rt.Policy.Level == LevelMember {
			g.prepare()
		}
		if err := register(mux, rt.Method+" "+rt.Pattern, g); err != nil {
			return nil, err
		}
	}
	return problemMux{mux}, nil
}

// problemMux answers what the ServeMux itself would answer in plain text —
// no route (404), a route but not this method (405 with Allow) — as
// problem+json, leaving the route patterns free to overlap as ServeMux
// allows (e.g. /v1/provenance/keys beside /v1/provenance/{release}).
type problemMux struct{ mux *http.ServeMux }

func (p problemMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := p.mux.Handler(r)
	if pattern != "" {
		p.mux.ServeHTTP(w, r)
		return
	}
	rec := &bufferedWriter{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch {
	case rec.status == http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		problem.Write(w, r, problem.E("guard", problem.MethodNotAllowed, "allowed: "+allow))
	case rec.status >= 300 && rec.status < 400: // path cleaning redirects
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		rec.flush(w)
	default:
		problem.Write(w, r, notFound)
	}
}

func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("guard: %v", v)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// notFound is the one answer for a missing resource and for a resource of
// another workspace: the same kind and the same detail, so a reply reveals
// nothing about what exists elsewhere.
var notFound = problem.E("guard", problem.NotFound, "no such resource")

// NotFound returns the error handlers use for a resource they cannot find,
// identical to the guard's own.
func NotFound() error { return notFound }

// NotFoundOr maps a query that found no row (pgx.ErrNoRows) to NotFound,
// and any other error to an internal error of op.
func NotFoundOr(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound
	}
	return problem.Wrap(op, problem.Internal, err)
}

type guarded struct {
	route   Route
	authn   Authenticator
	batcher SessionBatcher // authn, when it can check sessions in the batch
	pool    *pgxpool.Pool
	params  []string // resource params, in order
	roles   []string // the role names the route admits
	query   string   // session + membership + resource check
}

// prepare builds the single statement that checks the session, the
// membership and, for each resource parameter, that the row exists in the
// workspace: $1 is the workspace, $2 the admitted role names, $3… the
// resources, then the session look-up's parameters (the batcher's, or the
// principal's session and user when authn cannot batch). The statement
// also sets the transaction's workspace scope again: to the workspace when
// every check passes, to nothing otherwise, so a query queued after it
// (a Read route's) reads no tenant row for a refused caller.
func (g *guarded) prepare() {
	for r := g.route.Policy.MinRole; r <= Owner; r++ {
		g.roles = append(g.roles, r.String())
	}
	var exists strings.Builder
	ok := "c.role = ANY($2::text[])"
	for _, p := range g.route.Params() {
		if p == WorkspaceParam {
			continue
		}
		res := resources[p]
		g.params = append(g.params, p)
		n := len(g.params)
		fmt.Fprintf(&exists, `,
		  EXISTS (SELECT 1 FROM %s WHERE %s = $%d AND workspace_id = $1::uuid) AS e%d`,
			pgx.Identifier{res.table}.Sanitize(), pgx.Identifier{res.column}.Sanitize(), n+2, n)
		ok += fmt.Sprintf(" AND c.e%d", n)
	}
	first := len(g.params) + 3
	session := fmt.Sprintf(`SELECT $%d::uuid AS id, $%d::uuid AS user_id, false AS stale`, first, first+1)
	if g.batcher != nil {
		session = g.batcher.SessionSQL(first)
	}
	var cols strings.Builder
	for i := range g.params {
		fmt.Fprintf(&cols, ", c.e%d", i+1)
	}
	g.query = `WITH session AS (` + session + `)
		SELECT c.sid, c.uid, c.stale, c.role, c.deleting` + cols.String() + `,
		  set_config('app.workspace_id', CASE WHEN ` + ok + ` THEN $1::uuid::text ELSE '' END, true)
		FROM (SELECT session.id AS sid, session.user_id AS uid, coalesce(session.stale, false) AS stale,
		  (SELECT role FROM members WHERE workspace_id = $1::uuid AND user_id = session.user_id) AS role,
		  coalesce((SELECT deletion_requested_at IS NOT NULL FROM workspaces WHERE id = $1::uuid), false) AS deleting` + exists.String() + `
		FROM (VALUES (1)) AS one LEFT JOIN session ON true) AS c`
}

// outcome is what a request's check learned that ServeHTTP needs after
// the reply.
type outcome struct {
	session   id.SessionID
	stale     bool // the session's last-seen time should be refreshed
	noSession bool // the token named no live session
}

func (g *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var o outcome
	if err := g.serve(w, r, &o); err != nil {
		problem.Write(w, r, err)
	}
	if o.stale && g.batcher != nil {
		// The last-seen touch is the one write a read would need; it is
		// done after the reply, at most once a minute per session.
		_ = http.NewResponseController(w).Flush()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := g.batcher.TouchSession(ctx, o.session); err != nil {
			slog.WarnContext(ctx, "guard: could not refresh the session's last-seen time", "cause", err)
		}
	}
}

func (g *guarded) serve(w http.ResponseWriter, r *http.Request, o *outcome) error {
	const op = "guard"
	if g.route.Policy.Level == LevelPublic {
		return g.route.Handler(w, r, nil)
	}
	if g.route.Policy.Level == LevelInternal {
		if !g.route.Policy.allows(r) {
			return problem.E(op, problem.Unauthenticated, "send the "+g.route.Policy.secretHeader+" header")
		}
		return g.route.Handler(w, r, nil)
	}
	// The body is read (bounded) before any database work: a client that
	// trickles its body then holds a goroutine, never a pool connection.
	if err := readBody(w, r); err != nil {
		return err
	}
	token, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="framebroker"`)
		return problem.E(op, problem.Unauthenticated, "send Authorization: Bearer <session token>")
	}
	a := &Access{}
	var session []any
	if g.route.Policy.Level == LevelAuthenticated || g.batcher == nil {
		p, err := g.authn.Authenticate(r.Context(), token)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="framebroker", error="invalid_token"`)
			return err
		}
		a.Principal = p
		session = []any{pgUUID(p.Session.UUID()), pgUUID(p.User.UUID())}
	} else {
		var err error
		if session, err = g.batcher.SessionArgs(token); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="framebroker", error="invalid_token"`)
			return err
		}
	}
	if g.route.Policy.Level == LevelAuthenticated {
		if err := g.limit(w, r, a); err != nil {
			return err
		}
		return g.route.Handler(w, r, a)
	}

	ws, err := parse[id.WorkspaceID](r.PathValue(WorkspaceParam))
	if err != nil {
		return notFound
	}
	a.Workspace = id.FromUUID[id.WorkspaceID](ws)
	args := []any{pgUUID(ws), g.roles}
	a.ids = make(map[string]uuid.UUID, len(g.params))
	for _, name := range g.params {
		u, err := resources[name].parse(r.PathValue(name))
		if err != nil {
			return notFound
		}
		a.ids[name] = u
		args = append(args, pgUUID(u))
	}
	args = append(args, session...)
	err = g.member(w, r, a, args, o)
	if err != nil && db.ConnLost(err) && g.retrySafe(r) && r.Context().Err() == nil {
		// The connection died under a read-only request whose reply is
		// still buffered (a failover, a terminated session): nothing was
		// written and nothing committed, so it runs once more on a fresh
		// connection and the caller never sees the loss.
		slog.WarnContext(r.Context(), "guard: database connection lost; retrying the read-only request once",
			"route", g.route.Method+" "+g.route.Pattern, "cause", err)
		g.pool.Reset()
		err = g.member(w, r, a, args, o)
	}
	if o.noSession {
		w.Header().Set("WWW-Authenticate", `Bearer realm="framebroker", error="invalid_token"`)
	}
	return err
}

// pgUUID is u as pgx encodes it directly (a uuid.UUID goes through its
// driver.Valuer text form, a failed binary encode and a re-parse).
func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: true} }

// retrySafe reports whether a request may be run again after its
// connection was lost: a read (GET or HEAD) in the guard's read-only,
// buffered transaction.
func (g *guarded) retrySafe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && !g.route.NoTx && !g.route.Stream
}

// member runs a member route once its caller's token and its path are
// parsed: the session, membership and resource checks, the limiter and
// the handler, in the transaction the route's shape asks for. The checks
// always travel in the batch that opens the transaction:
//
//   - Read routes: BEGIN READ ONLY, scope, checks, the route's queries and
//     COMMIT in one batch — one round trip;
//   - NoTx and Stream routes: BEGIN READ ONLY, scope, checks, COMMIT in one
//     batch, then the handler without a transaction;
//   - other routes: BEGIN, scope, (for writes) the membership lock, checks
//     in one batch, then the handler in that transaction, then COMMIT.
func (g *guarded) member(w http.ResponseWriter, r *http.Request, a *Access, args []any, o *outcome) error {
	const op = "guard"
	ctx := r.Context()
	noTx := g.route.NoTx || g.route.Stream
	readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead || noTx
	scope := a.Workspace.UUID().String()
	b := &pgx.Batch{}
	if g.route.Read != nil || noTx {
		g.queueCheck(b, a, args, r.Method, o)
		var h HandlerFunc
		if g.route.Read != nil {
			h = g.route.Read(r, a, b)
		}
		if err := db.ReadPipeline(ctx, g.pool, scope, b); err != nil {
			return checkFailed(err)
		}
		if err := g.limit(w, r, a); err != nil {
			return err
		}
		if h == nil {
			h = g.route.Handler
		}
		if g.route.Stream {
			return h(w, r, a)
		}
		buf := &bufferedWriter{header: w.Header()}
		if err := h(buf, r, a); err != nil {
			return err
		}
		buf.flush(w)
		return nil
	}

	opts := pgx.TxOptions{}
	if readOnly {
		opts.AccessMode = pgx.ReadOnly
	}
	b.Queue(`SELECT set_config('app.workspace_id', $1, true)`, scope)
	if !readOnly {
		// Before the membership is read (the check below): see
		// Route.Membership.
		if g.route.Membership {
			b.Queue(`SELECT pg_advisory_xact_lock($1)`, membershipLockKey(a.Workspace))
		} else {
			b.Queue(`SELECT pg_advisory_xact_lock_shared($1)`, membershipLockKey(a.Workspace))
		}
	}
	g.queueCheck(b, a, args, r.Method, o)
	tx, err := db.BeginBatch(ctx, g.pool, opts, b)
	if err != nil {
		return checkFailed(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	a.Tx = tx
	if err := g.limit(w, r, a); err != nil {
		return err
	}
	buf := &bufferedWriter{header: w.Header()}
	if err := g.route.Handler(buf, r, a); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		var ac *db.AfterCommitError
		if errors.As(err, &ac) {
			// Committed; an after-commit effect failed and says how.
			return afterCommitProblem(ac.Err)
		}
		return problem.Wrap(op, problem.Internal, fmt.Errorf("commit: %w", err))
	}
	buf.flush(w)
	return nil
}

// checkFailed is the reply for a check batch that failed: the check's own
// refusal as is, a lost connection as Unavailable, anything else Internal.
func checkFailed(err error) error {
	var pe *problem.Error
	switch {
	case errors.As(err, &pe):
		return err
	case db.ConnLost(err):
		return problem.Wrap("guard", problem.Unavailable, err)
	}
	return problem.Wrap("guard", problem.Internal, fmt.Errorf("check: %w", err))
}

// afterCommitProblem is the reply for a request whose transaction committed
// but whose after-commit effect failed: the effect's own problem if it
// returned one, else an internal error.
func afterCommitProblem(err error) error {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe
	}
	return problem.Wrap("guard.AfterCommit", problem.Internal, err)
}

// queueCheck queues the check statement on b; its callback fills a's
// principal and role and refuses (stopping the batch's later callbacks)
// when the session, the membership, a resource, the role or the
// workspace's state does not allow the request.
func (g *guarded) queueCheck(b *pgx.Batch, a *Access, args []any, method string, o *outcome) {
	b.Queue(g.query, args...).QueryRow(func(row pgx.Row) error {
		var sid, uid *uuid.UUID
		var role *string
		var stale, deleting bool
		var scope string
		exists := make([]bool, len(g.params))
		dest := []any{&sid, &uid, &stale, &role, &deleting}
		for i := range exists {
			dest = append(dest, &exists[i])
		}
		if err := row.Scan(append(dest, &scope)...); err != nil {
			return err
		}
		return g.verdict(a, method, o, sid, uid, stale, role, deleting, exists)
	})
}

// verdict applies the check's row to the request, in the order the guard
// has always refused: no session (401), not a member or a resource not in
// the workspace (404, identical for both), role too low (403), workspace
// being deleted (409, writes only).
func (g *guarded) verdict(a *Access, method string, o *outcome, sid, uid *uuid.UUID, stale bool, role *string, deleting bool, exists []bool) error {
	const op = "guard"
	if sid == nil || uid == nil {
		o.noSession = true
		if g.batcher != nil {
			return g.batcher.NoSession()
		}
		return problem.E(op, problem.Unauthenticated, "session token is invalid, expired or revoked")
	}
	a.Principal = Principal{User: id.FromUUID[id.UserID](*uid), Session: id.FromUUID[id.SessionID](*sid)}
	o.session, o.stale = a.Principal.Session, stale
	if role == nil {
		return notFound
	}
	for _, ok := range exists {
		if !ok {
			return notFound
		}
	}
	r, err := ParseRole(*role)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	a.Role = r
	if r < g.route.Policy.MinRole {
		return problem.RoleInsufficient.E(op, fmt.Sprintf("this needs the %s role or higher; you are %s", g.route.Policy.MinRole, r))
	}
	if deleting && method != http.MethodGet && method != http.MethodHead && !g.route.DuringDeletion {
		return problem.WorkspaceDeleting.E(op, "this workspace is scheduled for deletion and is read-only; its owner can cancel the deletion until it is purged")
	}
	return nil
}

// membershipLockKey is the advisory-lock key of ws's membership (see
// Route.Membership).
func membershipLockKey(ws id.WorkspaceID) int64 {
	u := ws.UUID()
	sum := sha256.Sum256(append([]byte("framebroker.membership\x00"), u[:]...))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// LockMembership takes ws's membership lock exclusively in tx, as a
// Membership route does, for membership changes made outside a member
// route (accepting an invitation). Call it before reading the membership.
func LockMembership(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, membershipLockKey(ws)); err != nil {
		return problem.Wrap("guard.LockMembership", problem.Internal, err)
	}
	return nil
}

// limit applies the route's Limiter, if any.
func (g *guarded) limit(w http.ResponseWriter, r *http.Request, a *Access) error {
	if g.route.Limit == nil {
		return nil
	}
	return g.route.Limit.Limit(r.Context(), w.Header(), a)
}

// readBody replaces r's body by an in-memory copy of it, read in full but
// at most httpx.MaxBody bytes (413 beyond). Authenticated and member routes
// go through it before the session lookup and the transaction, so the time
// a client takes to send its body is never spent holding a connection.
func readBody(w http.ResponseWriter, r *http.Request) error {
	const op = "guard.readBody"
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return problem.E(op, problem.TooLarge, fmt.Sprintf("request body exceeds %d bytes", httpx.MaxBody))
	case err != nil:
		return &problem.Error{Op: op, Kind: problem.Invalid, Detail: "request body could not be read", Err: err}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// bufferedWriter holds a handler's reply until its transaction commits.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) flush(w http.ResponseWriter) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
