package job_test

import (
	"testing"

	"github.com/framebroker/framebroker/shared/job"
)

// TestStateMachine: the allowed moves, and nothing else (an ended job never
// moves again; nothing skips running to complete).
func TestStateMachine(t *testing.T) {
	all := []job.Status{"", job.Queued, job.Running, job.Completed, job.Failed, job.Canceled}
	allowed := map[[2]job.Status]bool{
		{"", job.Queued}:             true,
		{job.Queued, job.Running}:    true,
		{job.Queued, job.Failed}:     true,
		{job.Queued, job.Canceled}:   true,
		{job.Running, job.Completed}: true,
		{job.Running, job.Failed}:    true,
		{job.Running, job.Canceled}:  true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := job.Allowed(from, to); got != allowed[[2]job.Status{from, to}] {
				t.Errorf("Allowed(%q, %q) = %v", from, to, got)
			}
		}
	}
	for _, s := range all {
		if s.Finished() != (s == job.Completed || s == job.Failed || s == job.Canceled) {
			t.Errorf("%q.Finished() = %v", s, s.Finished())
		}
	}
}
