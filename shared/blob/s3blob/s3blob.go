// Package s3blob implements blob.Store on Amazon S3 (and S3-compatible
// servers such as versitygw) with aws-sdk-go-v2.
package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/config"
)

// Config selects the bucket and, for a local server, endpoint and keys.
type Config struct {
	Bucket    string
	Region    string
	Endpoint  string // empty: AWS
	AccessKey string // empty: the default credential chain (Lambda role)
	SecretKey string
}

// Store is a blob.Store on one bucket.
type Store struct {
	bucket  string
	client  *s3.Client
	presign *s3.PresignClient
}

// New builds a Store.
func New(ctx context.Context, c Config) (*Store, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(c.Region)}
	if c.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3blob: aws config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
	})
	return &Store{bucket: c.Bucket, client: client, presign: s3.NewPresignClient(client)}, nil
}

// Client exposes the S3 client for infrastructure code (bucket set-up, tests).
func (s *Store) Client() *s3.Client { return s.client }

// PresignPut implements blob.Store. Content-Type (and Content-Length when
// size > 0) are signed, so S3 refuses an upload of another type or size.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, error) {
	if err := blob.CheckTTL(ttl); err != nil {
		return "", err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, ContentType: &contentType}
	if size > 0 {
		in.ContentLength = &size
	}
	req, err := s.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3blob: presign put: %w", err)
	}
	return req.URL, nil
}

// PresignGet implements blob.Store.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := blob.CheckTTL(ttl); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3blob: presign get: %w", err)
	}
	return req.URL, nil
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, blob.Info{}, blob.ErrNotFound
		}
		return nil, blob.Info{}, fmt.Errorf("s3blob: get %s: %w", key, err)
	}
	return out.Body, blob.Info{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3blob: delete %s: %w", key, err)
	}
	return nil
}

// List implements blob.Store with ListObjectsV2.
func (s *Store) List(ctx context.Context, prefix string, max int) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3blob: list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
			if max > 0 && len(keys) == max {
				return keys, nil
			}
		}
	}
	return keys, nil
}

// DeletePrefix implements blob.Store: it lists the prefix page by page
// (≤ 1000 keys, the DeleteObjects limit) and deletes each page in one
// DeleteObjects call. A key S3 reports as not deleted fails the call, so a
// purge never records a prefix as empty when it is not. On a versioned
// bucket this leaves delete markers; noncurrent versions need the bucket's
// lifecycle rule to expire them.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	if err := blob.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	var n int64
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, MaxKeys: aws.Int32(1000)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("s3blob: list %s: %w", prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return n, fmt.Errorf("s3blob: delete under %s: %w", prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return n, fmt.Errorf("s3blob: delete under %s: %d keys not deleted, first %s: %s", prefix, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code))
		}
		n += int64(len(ids))
	}
	return n, nil
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// FromConfig builds the Store for the media bucket that cfg names.
func FromConfig(ctx context.Context, cfg config.Config) (*Store, error) {
	return New(ctx, Config{
		Bucket: cfg.MediaBucket, Region: cfg.S3Region, Endpoint: cfg.S3Endpoint,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
	})
}
