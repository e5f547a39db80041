package s3blob

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/framebroker/framebroker/shared/blob"
)

var _ blob.Uploads = (*Store)(nil)

func b64(sum []byte) *string { return aws.String(base64.StdEncoding.EncodeToString(sum)) }

// presigned turns a presigned request into a blob.Presigned with the
// headers the client must send (all signed headers but Host).
func presigned(method, url string, h http.Header) blob.Presigned {
	p := blob.Presigned{Method: method, URL: url, Headers: map[string]string{}}
	for k, v := range h {
		if strings.EqualFold(k, "Host") || len(v) == 0 {
			continue
		}
		p.Headers[http.CanonicalHeaderKey(k)] = v[0]
	}
	return p
}

// PresignCreate implements blob.Uploads: Content-Type, Content-Length,
// x-amz-checksum-sha256 and If-None-Match: * are all signed.
func (s *Store) PresignCreate(ctx context.Context, key, contentType string, size int64, sum []byte, ttl time.Duration) (blob.Presigned, error) {
	if err := blob.CheckTTL(ttl); err != nil {
		return blob.Presigned{}, err
	}
	if len(sum) != 32 || size <= 0 {
		return blob.Presigned{}, errors.New("s3blob: a create needs a size and a SHA-256")
	}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, ContentType: &contentType,
		ContentLength: &size, ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumSHA256: b64(sum), IfNoneMatch: aws.String("*")},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return blob.Presigned{}, fmt.Errorf("s3blob: presign create: %w", err)
	}
	p := presigned(req.Method, req.URL, req.SignedHeader)
	delete(p.Headers, "Content-Length") // the client's HTTP library sends it
	return p, nil
}

// Head implements blob.Uploads (HeadObject with ChecksumMode ENABLED).
func (s *Store) Head(ctx context.Context, key string) (blob.Checked, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		if isNotFound(err) {
			return blob.Checked{}, blob.ErrNotFound
		}
		return blob.Checked{}, fmt.Errorf("s3blob: head %s: %w", key, err)
	}
	c := blob.Checked{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}
	sum := aws.ToString(out.ChecksumSHA256)
	if strings.Contains(sum, "-") || out.ChecksumType == types.ChecksumTypeComposite {
		c.Composite = sum
	} else if sum != "" {
		b, err := base64.StdEncoding.DecodeString(sum)
		if err != nil || len(b) != 32 {
			return blob.Checked{}, fmt.Errorf("s3blob: head %s: malformed checksum %q", key, sum)
		}
		c.SHA256 = b
	}
	return c, nil
}

// StartMultipart implements blob.Uploads.
func (s *Store) StartMultipart(ctx context.Context, key, contentType string) (string, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		ContentType: &contentType, ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		return "", fmt.Errorf("s3blob: start multipart %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart implements blob.Uploads: size and SHA-256 of the part are signed.
func (s *Store) PresignPart(ctx context.Context, key, uploadID string, p blob.Part, ttl time.Duration) (blob.Presigned, error) {
	if err := blob.CheckTTL(ttl); err != nil {
		return blob.Presigned{}, err
	}
	if len(p.SHA256) != 32 || p.Size <= 0 || p.Number < 1 || p.Number > blob.MaxParts {
		return blob.Presigned{}, errors.New("s3blob: a part needs a number, a size and a SHA-256")
	}
	req, err := s.presign.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
		PartNumber: aws.Int32(p.Number), ContentLength: aws.Int64(p.Size),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumSHA256: b64(p.SHA256)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return blob.Presigned{}, fmt.Errorf("s3blob: presign part: %w", err)
	}
	out := presigned(req.Method, req.URL, req.SignedHeader)
	delete(out.Headers, "Content-Length")
	return out, nil
}

// ListParts implements blob.Uploads.
func (s *Store) ListParts(ctx context.Context, key, uploadID string) ([]blob.Part, error) {
	var parts []blob.Part
	pages := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if isNoUpload(err) {
				return nil, blob.ErrNotFound
			}
			return nil, fmt.Errorf("s3blob: list parts %s: %w", key, err)
		}
		for _, p := range page.Parts {
			bp := blob.Part{Number: aws.ToInt32(p.PartNumber), Size: aws.ToInt64(p.Size), ETag: aws.ToString(p.ETag)}
			if c := aws.ToString(p.ChecksumSHA256); c != "" {
				bp.SHA256, _ = base64.StdEncoding.DecodeString(c)
			}
			parts = append(parts, bp)
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// CompleteMultipart implements blob.Uploads (If-None-Match: *).
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []blob.Part) (string, error) {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag), ChecksumSHA256: b64(p.SHA256)}
	}
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp}, IfNoneMatch: aws.String("*")})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
			return "", blob.ErrExists
		}
		if isNoUpload(err) {
			return "", blob.ErrNotFound
		}
		return "", fmt.Errorf("s3blob: complete multipart %s: %w", key, err)
	}
	return aws.ToString(out.ChecksumSHA256), nil
}

// AbortMultipart implements blob.Uploads.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	if err != nil && !isNoUpload(err) && !isNotFound(err) {
		return fmt.Errorf("s3blob: abort multipart %s: %w", key, err)
	}
	return nil
}

// OpenRange implements blob.Uploads.
func (s *Store) OpenRange(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if offset > 0 {
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-")
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, blob.ErrNotFound
		}
		return nil, fmt.Errorf("s3blob: get %s from %d: %w", key, offset, err)
	}
	return out.Body, nil
}

// ListMultipart implements blob.Uploads.
func (s *Store) ListMultipart(ctx context.Context, prefix string, before time.Time) ([]blob.Upload, error) {
	var out []blob.Upload
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("s3blob: list multipart uploads %s: %w", prefix, err)
		}
		for _, u := range page.Uploads {
			if u.Initiated == nil || u.Initiated.Before(before) {
				out = append(out, blob.Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId)})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

func isNoUpload(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}
