package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/rietest"
)

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
	buildLog  []byte
)

// TestMain removes the built functions (about 550 MB) when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// buildFunctions builds every functions/<fn> for the host, as `make build`
// does for Lambda (lambda.norpc, no cgo, trimmed), once per test binary.
func buildFunctions(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "framebroker-functions-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", builtDir+"/", "./functions/...")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildLog, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./functions/...: %v\n%s", buildErr, buildLog)
	}
	return builtDir
}

// emulator is one function's bootstrap under the Runtime Interface
// Emulator, on loopback only.
type emulator struct{ *rietest.Emulator }

// startEmulator starts bootstrap under the emulator; owner (the test that
// outlives the emulator) kills it at its end.
func startEmulator(t, owner *testing.T, bootstrap string, env []string) *emulator {
	return &emulator{rietest.Start(t, owner, env, bootstrap)}
}

// invoke posts an event and returns the function's output or error.
func (em *emulator) invoke(t *testing.T, raw []byte) (json.RawMessage, *invokeError) {
	t.Helper()
	res, err := http.Post(em.URL(), "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, em.Output.String())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var ie invokeError
	if json.Unmarshal(b, &ie) == nil && ie.Type != "" {
		return nil, &ie
	}
	if res.StatusCode != 200 {
		t.Fatalf("emulator answered %d: %s\n%s", res.StatusCode, b, em.Output.String())
	}
	return b, nil
}

// secretsManager is a loopback stand-in for the Secrets Manager API
// (GetSecretValue only): the binaries read their keyring and cron secret
// through the real AWS SDK client, pointed here by
// AWS_ENDPOINT_URL_SECRETS_MANAGER.
func secretsManager(t *testing.T, secrets map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		v, ok := secrets[in.SecretId]
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !ok || !strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"no such secret"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": v, "VersionId": "v1"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// functionEnv is the environment of a function under the emulator: the
// test stack's configuration, secrets by ARN from the Secrets Manager
// stand-in (not in the environment), and an unwritable HOME with no
// keyring directory, as in Lambda.
func functionEnv(f *fixture, sm string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "TZ=UTC",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDLOCALTEST", "AWS_SECRET_ACCESS_KEY=local-test-secret",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + sm, "AWS_EC2_METADATA_DISABLED=true",
		lambdafn.EnvCronSecretArn + "=arn:aws:secretsmanager:us-east-1:123456789012:secret:cron",
		lambdafn.EnvKeyringSecretArn + "=arn:aws:secretsmanager:us-east-1:123456789012:secret:keyring",
	}
	for _, kv := range f.e.Config.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case config.EnvCronSecret: // read by the function itself, from its secret
			continue
		case config.EnvEncodeBackend:
			kv = k + "=stepfunctions"
		}
		env = append(env, kv)
	}
	return env
}

// TestSampleEventsUnderRIE builds every functions/<fn> binary for the host
// and replays every sample event through it under the Lambda Runtime
// Interface Emulator against the local stack: the API Gateway conversion,
// the cold start (secrets, keyring, database), the cron secret read by the
// function itself, and the headers (a Stripe-signed event credits the
// workspace only if Stripe-Signature arrived whole).
func TestSampleEventsUnderRIE(t *testing.T) {
	rietest.Binary(t) // fail early without the emulator
	bins := buildFunctions(t)
	f := newFixture(t)
	doc, err := keyring.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsManager(t, map[string]string{
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:cron":    f.e.Config.CronSecret,
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:keyring": string(doc),
	})
	env := functionEnv(f, sm.URL)
	var fns []string
	for _, fn := range functionsWithEvents(t) {
		if fn != "migrate" && fn != "keyring-init" { // CloudFormation custom resources (they answer to a ResponseURL)
			fns = append(fns, fn)
		}
	}
	for _, fn := range fns {
		if _, err := os.Stat(filepath.Join(bins, fn)); err != nil {
			t.Fatalf("events/%s has no functions/%s binary", fn, fn)
		}
	}
	ems := map[string]*emulator{}
	outer := t
	f.replay(t, fns, func(t *testing.T, fn string, raw []byte) (json.RawMessage, *invokeError) {
		em := ems[fn]
		if em == nil {
			em = startEmulator(t, outer, filepath.Join(bins, fn), env)
			ems[fn] = em
		}
		return em.invoke(t, raw)
	})
}

// TestColdStartFailsLoudly is observed #2 and #3 of issue 12 on the built
// binaries: in Lambda, a signing function without a keyring and a function
// whose database never answers exit non-zero before serving anything, with
// a JSON log line saying why; neither generates keys (HOME is unwritable).
func TestColdStartFailsLoudly(t *testing.T) {
	bins := buildFunctions(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9", "AWS_REGION=us-east-1",
		config.EnvMediaBucket + "=media"}
	for _, c := range []struct {
		name, fn string
		env      []string
		want     string
	}{
		{"signing function without keyring", "provenance", []string{config.EnvDatabaseURL + "=postgres://u@127.0.0.1:1/db"}, lambdafn.EnvKeyringSecretArn},
		{"silent database", "auth", []string{config.EnvDatabaseURL + "=postgres://u@" + silent.Addr().String() + "/db?sslmode=disable", "FRAMEBROKER_DATABASE_WAIT=500ms"}, "did not answer a connect and ping"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bins, c.fn))
			cmd.Env = append(append([]string{}, base...), c.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want non-zero; stderr %s", err, stderr.String())
			}
			var last struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Err   string `json:"err"`
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatalf("last log line is not JSON: %q", lines[len(lines)-1])
			}
			if last.Level != "ERROR" || !strings.HasPrefix(last.Msg, "start-up failed") || !strings.Contains(last.Err, c.want) {
				t.Fatalf("log line %+v, want an error mentioning %q", last, c.want)
			}
			for _, l := range lines {
				if !json.Valid([]byte(l)) {
					t.Fatalf("non-JSON log line %q", l)
				}
			}
		})
	}
}

// LambdaZipLimitMiB is Lambda's limit for a zip function and its layers,
// unzipped (262,144,000 bytes). No function has a layer (ffprobe runs in
// the probe image function: infra/stack checkLambdas refuses layers).
const LambdaZipLimitMiB = 250

// TestBootstrapsFitLambda: every function's bootstrap is under Lambda's
// unzipped limit, measured on the host build (not stripped, so larger than
// make build's arm64 bootstraps).
func TestBootstrapsFitLambda(t *testing.T) {
	bins := buildFunctions(t)
	entries, err := os.ReadDir(bins)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no bootstraps in %s: %v", bins, err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		mib := float64(fi.Size()) / (1 << 20)
		t.Logf("%-14s %5.1f MiB", e.Name(), mib)
		if mib >= LambdaZipLimitMiB {
			t.Errorf("%s is %.1f MiB, over Lambda's %d MiB for a zip function", e.Name(), mib, LambdaZipLimitMiB)
		}
	}
}
