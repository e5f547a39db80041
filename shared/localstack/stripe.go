package localstack

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// startStripe runs stripe-mock with both listeners on loopback (given only
// the HTTP address it would bind HTTPS on every interface).
func (s *Stack) startStripe(ctx context.Context) error {
	bin, err := findTool("stripe-mock", s.opts.BinDir)
	if err != nil {
		return err
	}
	s.stripe, err = startChild(procSpec{
		name: "stripe-mock",
		path: bin,
		args: []string{
			"-http-addr", loopback(s.opts.StripePort),
			"-https-addr", loopback(s.opts.StripePort + 1),
		},
		logDir:  s.logDir(),
		stopSig: syscall.SIGTERM,
	})
	if err != nil {
		return fmt.Errorf("stripe-mock: %w", err)
	}
	url := s.StripeURL() + "/v1/customers"
	err = waitReady(ctx, s.stripe, 15*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer sk_test_123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stripe-mock: %w", err)
	}
	s.step("stripe-mock ready", "url", s.StripeURL())
	return nil
}
