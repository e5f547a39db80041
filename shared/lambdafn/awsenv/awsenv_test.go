package awsenv

import (
	"context"
	"testing"
)

// TestConfig: the region and the role's credentials come from the
// environment the Lambda runtime sets; either missing is an error, never
// a fall-back to another credential source.
func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name                     string
		region, def, key, secret string
		token                    string
		ok                       bool
		wantRegion               string
	}{
		{"lambda", "eu-west-1", "", "AKID", "s", "tok", true, "eu-west-1"},
		{"default region", "", "us-east-2", "AKID", "s", "", true, "us-east-2"},
		{"no region", "", "", "AKID", "s", "", false, ""},
		{"no key", "eu-west-1", "", "", "s", "", false, ""},
		{"no secret", "eu-west-1", "", "AKID", "", "", false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", c.region)
			t.Setenv("AWS_DEFAULT_REGION", c.def)
			t.Setenv("AWS_ACCESS_KEY_ID", c.key)
			t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			t.Setenv("AWS_SESSION_TOKEN", c.token)
			cfg, err := Config()
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok=%v", err, c.ok)
			}
			if !c.ok {
				return
			}
			if cfg.Region != c.wantRegion {
				t.Errorf("region %q, want %q", cfg.Region, c.wantRegion)
			}
			cr, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil || cr.AccessKeyID != c.key || cr.SecretAccessKey != c.secret || cr.SessionToken != c.token {
				t.Errorf("credentials %+v %v", cr, err)
			}
		})
	}
}

// TestEndpoint: the service's own override wins over the global one.
func TestEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "")
	if e := Endpoint("SECRETS_MANAGER"); e != nil {
		t.Fatalf("endpoint %q without overrides", *e)
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://all")
	if e := Endpoint("SECRETS_MANAGER"); e == nil || *e != "http://all" {
		t.Fatalf("global override: %v", e)
	}
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm")
	if e := Endpoint("SECRETS_MANAGER"); e == nil || *e != "http://sm" {
		t.Fatalf("service override: %v", e)
	}
	if e := Endpoint("EVENTBRIDGE"); e == nil || *e != "http://all" {
		t.Fatalf("other service: %v", e)
	}
}
