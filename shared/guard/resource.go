package guard

import (
	"github.com/google/uuid"

	"github.com/framebroker/framebroker/shared/id"
)

// resource says how to check that a path parameter names a row of the
// request's workspace.
type resource struct {
	table, column string
	parse         func(string) (uuid.UUID, error)
}

// resources maps each path parameter name a route may use to the tenant
// table it names. A route whose pattern uses a parameter not listed here
// fails to build: adding a resource means adding it here, where the guard
// and the IDOR suite both pick it up.
var resources = map[string]resource{
	"project":    {"projects", "id", parse[id.ProjectID]},
	"shot":       {"shots", "id", parse[id.ShotID]},
	"release":    {"releases", "id", parse[id.ReleaseID]},
	"asset":      {"assets", "id", parse[id.AssetID]},
	"job":        {"jobs", "id", parse[id.JobID]},
	"user":       {"members", "user_id", parse[id.UserID]},
	"hook":       {"webhook_endpoints", "id", parse[id.WebhookID]},
	"invitation": {"invitations", "id", parse[id.InviteID]},
}

// WorkspaceParam is the path parameter that names the workspace.
const WorkspaceParam = "ws"

// Params lists the resource parameter names the guard knows, for tests that
// must cover every one.
func Params() []string {
	out := make([]string, 0, len(resources))
	for k := range resources {
		out = append(out, k)
	}
	return out
}

func parse[T interface{ UUID() uuid.UUID }, PT interface {
	*T
	UnmarshalText([]byte) error
}](s string) (uuid.UUID, error) {
	var v T
	if err := PT(&v).UnmarshalText([]byte(s)); err != nil {
		return uuid.Nil, err
	}
	return v.UUID(), nil
}
