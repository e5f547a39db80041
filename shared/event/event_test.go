package event_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/webhook"
)

// TestCatalogue: every entry is a well-formed, unique event type with a
// description and a JSON example; the test route's type is listed.
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, ty := range event.Catalogue {
		if !webhook.ValidEventType(ty.Name) || seen[ty.Name] || ty.About == "" {
			t.Errorf("bad entry %+v", ty)
		}
		seen[ty.Name] = true
		if _, err := json.Marshal(ty.Example); err != nil || ty.Example == nil {
			t.Errorf("%s: example %v", ty.Name, err)
		}
	}
	for _, must := range []string{"asset.completed", "asset.deleted", "job.queued", "job.started", "job.completed", "job.failed",
		"job.canceled", "release.published", "member.invited", "member.joined", "member.removed",
		"workspace.deletion_requested", webhook.TestEvent} {
		if !event.Known(must) {
			t.Errorf("%s missing from the catalogue", must)
		}
	}
}

// TestPublishRefusesUnknown: an event outside the catalogue is refused
// before anything is written.
func TestPublishRefusesUnknown(t *testing.T) {
	if err := event.Publish(context.Background(), nil, id.New[id.WorkspaceID](), "system:test", "job.exploded", "x", nil); err == nil {
		t.Fatal("an unknown event type was published")
	}
}
