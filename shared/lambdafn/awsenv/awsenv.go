// Package awsenv is a Lambda function's AWS configuration from its
// environment alone: the region and the execution role's credentials the
// Lambda runtime sets (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), and the endpoint overrides AWS_ENDPOINT_URL_<SERVICE>
// and AWS_ENDPOINT_URL (the emulator tests' stand-ins). In Lambda this is
// what config.LoadDefaultConfig resolves to, without linking the rest of
// the default chain (shared config files, SSO, STS web identity, IMDS),
// which is most of the AWS SDK weight of a light function such as the
// authorizer.
package awsenv

import (
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config is the function's AWS configuration from the environment; an
// error when the region or the role's credentials are missing (outside
// Lambda, e.g. a process run by hand without them).
func Config() (aws.Config, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return aws.Config{}, errors.New("awsenv: AWS_REGION is not set (the Lambda runtime sets it)")
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return aws.Config{}, errors.New("awsenv: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda runtime sets the role's credentials)")
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN")),
	}, nil
}

// Endpoint is the endpoint override for the service whose environment
// name is service (e.g. "SECRETS_MANAGER", "EVENTBRIDGE"): its own
// AWS_ENDPOINT_URL_<service>, else AWS_ENDPOINT_URL, else nil (the
// service's regional endpoint).
func Endpoint(service string) *string {
	for _, k := range []string{"AWS_ENDPOINT_URL_" + service, "AWS_ENDPOINT_URL"} {
		if v := os.Getenv(k); v != "" {
			return &v
		}
	}
	return nil
}
