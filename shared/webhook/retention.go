package webhook

import (
	"context"
	"fmt"
)

// trimBatch is how many delivery records one statement deletes.
const trimBatch = 5000

// Trim applies the delivery-record retention across every workspace:
// delivered records are kept 30 days, failed ones 90 days (see webhook_trim
// in the migration). Safe to run concurrently: rows in use are skipped. It
// returns how many delivery records it deleted.
func (s *Service) Trim(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT webhook_trim($1, $2)`, s.now(), trimBatch).Scan(&n); err != nil {
			return total, fmt.Errorf("webhook: trim: %w", err)
		}
		total += n
		if n < trimBatch {
			return total, nil
		}
	}
}
