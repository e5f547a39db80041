package localstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Keys of Dir/secrets.env.
const (
	secretS3AccessKey = "S3_ACCESS_KEY"
	secretS3SecretKey = "S3_SECRET_KEY"
)

// xattrSupported is supportsXattr; tests replace it to exercise the sidecar.
var xattrSupported = supportsXattr

func (s *Stack) s3Endpoint() string { return "http://" + loopback(s.opts.S3Port) }

// startS3 runs versitygw's posix backend on Dir/s3 with the stack's root
// credentials and makes sure the media bucket exists.
func (s *Stack) startS3(ctx context.Context) error {
	bin, err := findTool("versitygw", s.opts.BinDir)
	if err != nil {
		return err
	}
	if err := s.loadOrCreateSecrets(); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	root := filepath.Join(s.opts.Dir, "s3")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	args := []string{"--port", loopback(s.opts.S3Port), "--quiet", "posix"}
	if !xattrSupported(root) {
		// Object metadata (content type, ETag, …) normally lives in user
		// xattrs; without them versitygw keeps it in a sidecar tree. Not
		// "s3meta": versitygw v1.8.0 refuses any sidecar path that merely
		// starts with the root's path ("…/s3"), as if it were inside it.
		meta := filepath.Join(s.opts.Dir, "sidecar")
		if err := os.MkdirAll(meta, 0o700); err != nil {
			return fmt.Errorf("s3: %w", err)
		}
		args = append(args, "--sidecar", meta)
		s.log.Warn("filesystem without user xattrs: versitygw keeps metadata in a sidecar directory", "dir", meta)
	}
	s.s3, err = startChild(procSpec{
		name: "versitygw",
		path: bin,
		args: append(args, root),
		// Credentials go through the environment, not argv, to stay out of ps.
		env: []string{
			"PATH=" + os.Getenv("PATH"),
			"ROOT_ACCESS_KEY=" + s.s3AccessKey,
			"ROOT_SECRET_KEY=" + s.s3SecretKey,
		},
		logDir:  s.logDir(),
		stopSig: syscall.SIGTERM,
	})
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	client := s.s3Client()
	err = waitReady(ctx, s.s3, 15*time.Second, func(ctx context.Context) error {
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	})
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	s.step("versitygw ready", "endpoint", s.s3Endpoint())
	if err := ensureBucket(ctx, client, MediaBucket); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	return nil
}

// s3Client is an SDK client for the stack's versitygw, configured as the
// application configures its own (path style, static keys).
func (s *Stack) s3Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.s3Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.s3AccessKey, s.s3SecretKey, ""),
	})
}

// ensureBucket creates bucket unless it exists.
func ensureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return nil
	}
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// loadOrCreateSecrets reads the S3 root credentials from Dir/secrets.env,
// generating and saving them (0600) on first run so restarts keep them.
func (s *Stack) loadOrCreateSecrets() error {
	path := filepath.Join(s.opts.Dir, "secrets.env")
	vals, err := readEnvFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	s.s3AccessKey, s.s3SecretKey = vals[secretS3AccessKey], vals[secretS3SecretKey]
	if s.s3AccessKey != "" && s.s3SecretKey != "" {
		return nil
	}
	s.s3AccessKey = "FB" + rand.Text()[:18] // AWS-shaped: 20 characters
	s.s3SecretKey = rand.Text() + rand.Text()
	body := "# S3 root credentials of this local stack (generated; keep private)\n" +
		secretS3AccessKey + "=" + s.s3AccessKey + "\n" +
		secretS3SecretKey + "=" + s.s3SecretKey + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readEnvFile parses KEY=VALUE lines, skipping blanks and # comments.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vals[k] = v
		}
	}
	return vals, sc.Err()
}

// findTool locates a project-local binary: binDir when given, else the
// .local/bin of the nearest directory above the working directory that has
// one, else PATH.
func findTool(name, binDir string) (string, error) {
	if binDir != "" {
		p := filepath.Join(binDir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			p := filepath.Join(d, ".local", "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in .local/bin of this checkout or on PATH: run scripts/install.sh", name)
}
