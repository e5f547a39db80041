package identity

import (
	"sync"
	"testing"
)

// TestArgonSlotsFor: the documented bound per memory size.
func TestArgonSlotsFor(t *testing.T) {
	for _, tc := range []struct{ mem, want int }{
		{128, 1}, {256, 3}, {512, 6}, {1024, 13}, {1769, 23}, {3008, 39}, {10240, 64}, {64, 1},
	} {
		if got := argonSlotsFor(tc.mem); got != tc.want {
			t.Errorf("%d MiB: %d slots, want %d", tc.mem, got, tc.want)
		}
	}
	if got := argonSlotsFor(0); got < 1 || got > 64 {
		t.Errorf("unknown memory: %d slots", got)
	}
}

// TestArgonConcurrencyBounded: many simultaneous password checks, for
// known and unknown accounts alike, never run more than ArgonSlots Argon2
// computations at once.
func TestArgonConcurrencyBounded(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	argonPeak.Store(0)
	n := 3*ArgonSlots + 2
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, _ = CheckPassword(h, "wrong password")
			} else {
				_, _ = CheckPassword(dummyHash, "wrong password")
			}
		}()
	}
	wg.Wait()
	if p := argonPeak.Load(); p > int64(ArgonSlots) || p < 1 {
		t.Fatalf("peak %d concurrent Argon2 computations, bound %d", p, ArgonSlots)
	}
}
