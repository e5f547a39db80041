package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pushed is what push records for the deploy (build/worker-image.json): the
// stack runs exactly this digest.
type Pushed struct {
	Image    string `json:"image"` // HOST/REPO@sha256:…
	Digest   string `json:"digest"`
	Platform string `json:"platform"`
}

// push uploads the image of the OCI layout to repo by digest (no tag), checks
// that the registry serves that digest, and records the reference.
func push(layoutDir, repo, record string, useECR bool) (string, error) {
	if repo == "" {
		return "", fmt.Errorf("push: -repo is required")
	}
	if host, _, _ := strings.Cut(repo, "/"); useECR && !strings.Contains(host, ".") {
		// A repository name: in the ECR registry of the credentials in use.
		registry, bootstrap, err := ecrRegistry(context.Background())
		if err != nil {
			return "", err
		}
		if repo == CDKBootstrapRepo {
			repo = bootstrap
		}
		repo = registry + "/" + repo
	}
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		return "", fmt.Errorf("push: %s: %w", layoutDir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return "", err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	if len(m.Manifests) != 1 {
		return "", fmt.Errorf("push: %s holds %d images, want 1", layoutDir, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	var opts []name.Option
	if host, _, _ := strings.Cut(repo, "/"); strings.HasPrefix(host, "127.0.0.1:") || strings.HasPrefix(host, "localhost:") {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(repo+"@"+digest.String(), opts...)
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	ctx := context.Background()
	auth := authn.Anonymous
	if useECR {
		if auth, err = ecrAuth(ctx); err != nil {
			return "", err
		}
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	desc, err := remote.Head(ref, remote.WithAuth(auth), remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("push: check: %w", err)
	}
	if desc.Digest != digest {
		return "", fmt.Errorf("push: registry serves %s, pushed %s", desc.Digest, digest)
	}
	out := Pushed{Image: ref.String(), Digest: digest.String(), Platform: "linux/arm64"}
	if record != "" {
		if err := writeJSON(record, out); err != nil {
			return "", err
		}
	}
	return out.Image, nil
}

// CDKBootstrapRepo as -repo names the CDK bootstrap's container-assets
// repository of the account and region in use (it exists once the account
// is bootstrapped, before the stack, so the stack can reference the digest
// on its first deploy; the stack's default workerImageRepository).
const CDKBootstrapRepo = "cdk-bootstrap"

// ecrRegistry is the ECR registry host of the credentials' account and
// region, and the CDK bootstrap's container-assets repository name there.
func ecrRegistry(ctx context.Context) (registry, bootstrapRepo string, err error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return "", "", fmt.Errorf("push: AWS configuration: %w", err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || id.Account == nil {
		return "", "", fmt.Errorf("push: account of the AWS credentials: %v", err)
	}
	if cfg.Region == "" {
		return "", "", fmt.Errorf("push: no AWS region configured")
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", *id.Account, cfg.Region),
		fmt.Sprintf("cdk-hnb659fds-container-assets-%s-%s", *id.Account, cfg.Region), nil
}

// ecrAuth is a registry login from ECR's GetAuthorizationToken with the
// AWS credentials in use (what `docker login` would get, without Docker).
func ecrAuth(ctx context.Context) (authn.Authenticator, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: AWS configuration: %w", err)
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("push: ECR authorization: %w", err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return nil, fmt.Errorf("push: ECR returned no authorization token")
	}
	raw, err := base64.StdEncoding.DecodeString(*out.AuthorizationData[0].AuthorizationToken)
	if err != nil {
		return nil, fmt.Errorf("push: ECR token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, fmt.Errorf("push: ECR token is not user:password")
	}
	return &authn.Basic{Username: user, Password: pass}, nil
}
