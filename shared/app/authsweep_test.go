package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/cron"
)

// TestRetentionSweepsAuthRows: the retention cron deletes expired one-time
// tokens and OAuth states and spent rate-limit rows, and nothing live.
func TestRetentionSweepsAuthRows(t *testing.T) {
	e := apptest.New(t)
	e.User("sweep@example.com")
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.DB.Owner.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// The signup left one live verification token; add an expired one of
	// each purpose, used or not.
	exec(`INSERT INTO auth_tokens (id, user_id, purpose, token_hash, expires_at, used_at)
		SELECT gen_random_uuid(), u.id, p, sha256(convert_to(p || n, 'UTF8')), now() - interval '1 minute', CASE WHEN n = 1 THEN now() END
		FROM users u, unnest(ARRAY['reset','magic','verify']) p, generate_series(0, 1) n WHERE u.email = 'sweep@example.com'`)
	exec(`INSERT INTO oauth_states (state_hash, provider, code_verifier, nonce, expires_at) VALUES
		(sha256('dead'), 'google', 'v', 'n', now() - interval '1 second'),
		(sha256('live'), 'google', 'v', 'n', now() + interval '10 minutes')`)
	exec(`INSERT INTO rate_limits (key, tat) VALUES ('sweep:old', now() - interval '1 second'), ('sweep:busy', now() + interval '1 hour')`)

	req, _ := http.NewRequest("POST", e.Server.URL+"/internal/cron/retention", nil)
	req.Header.Set(cron.HeaderSecret, e.Config.CronSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Summary struct {
			Auth map[string]int `json:"auth"`
		} `json:"summary"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("retention: %d %v", res.StatusCode, err)
	}
	if got := out.Summary.Auth; got["auth_tokens_deleted"] != 6 || got["oauth_states_deleted"] != 1 || got["rate_limits_deleted"] < 1 {
		t.Errorf("reported %v", got)
	}
	for _, tc := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM auth_tokens WHERE expires_at < now()`, 0},
		{`SELECT count(*) FROM auth_tokens WHERE expires_at > now()`, 1},
		{`SELECT count(*) FROM oauth_states WHERE state_hash = sha256('dead')`, 0},
		{`SELECT count(*) FROM oauth_states WHERE state_hash = sha256('live')`, 1},
		{`SELECT count(*) FROM rate_limits WHERE key = 'sweep:old'`, 0},
		{`SELECT count(*) FROM rate_limits WHERE key = 'sweep:busy'`, 1},
	} {
		var n int
		if err := e.DB.Owner.QueryRow(ctx, tc.sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("%s = %d, want %d", tc.sql, n, tc.want)
		}
	}
}
