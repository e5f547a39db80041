// Package identity is users, passwords and sessions (T-03): Argon2id password
// hashes in PHC string form, session tokens stored only as SHA-256, and the
// Authenticate call that both the Lambda authorizer and the local middleware
// use to turn a bearer token into a guard.Principal.
package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum configuration (m = 19 MiB, t = 2,
// p = 1), with a 16-byte salt and a 32-byte key.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length limits, in bytes. The upper bound stops a caller from
// making the server hash megabytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// MinPasswordNonSpace is how many characters of a password must not be
// whitespace: 8, the minimum length NIST SP 800-63B sets for memorized
// secrets chosen by users. Spaces still count toward MinPasswordLen (a
// passphrase like "correct horse battery" is welcome), but ten spaces, or
// two letters padded with spaces, are among the first things a guesser
// tries and add almost nothing to guess.
const MinPasswordNonSpace = 8

// HashPassword returns the PHC string of password under Argon2id:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded base64).
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("identity: salt: %w", err)
	}
	key := argonKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("identity: malformed password hash")

// CheckPassword reports whether password matches the PHC string phc. The
// parameters are read from phc, so hashes made with older parameters still
// verify.
func CheckPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 64*1024 || t > 10 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argonKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a login names an unknown email, so the
// reply takes as long as for a known one.
var dummyHash = func() string {
	h, err := HashPassword("framebroker-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
}()

// Argon2 concurrency. Each Argon2id computation allocates its m parameter
// (19 MiB) for its whole run, so unbounded concurrent logins can exhaust a
// small instance's memory. At most ArgonSlots computations run at once;
// the others wait their turn in the same queue, whatever their outcome
// will be: a login for an unknown email (checked against the dummy hash)
// waits exactly like one for a known email, so the queue reveals nothing.
//
// The bound is a quarter of the instance's memory divided by 19 MiB (at
// least 1, at most 64): in AWS Lambda the function's memory size
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, MB), elsewhere the cgroup's memory.max,
// else 4 per CPU. Per Lambda memory size: 128 MB → 1, 256 → 3, 512 → 6,
// 1024 → 13, 1769 (one full vCPU) → 23, 3008 → 39. A Lambda instance
// serves one request at a time, so there the bound only matters for the
// hashes one request makes; it is the local server and any long-running
// process that it protects.
var ArgonSlots = argonSlotsFor(memoryLimitMiB())

var (
	argonSem    = make(chan struct{}, ArgonSlots)
	argonActive atomic.Int64
	argonPeak   atomic.Int64 // highest concurrency seen (tests)
)

// argonSlotsFor is the bound for an instance of memMiB MiB (0: unknown).
func argonSlotsFor(memMiB int) int {
	if memMiB <= 0 {
		return min(4*runtime.GOMAXPROCS(0), 64)
	}
	return max(1, min(memMiB/4/19, 64))
}

// memoryLimitMiB is the instance's memory in MiB, or 0 when unknown.
func memoryLimitMiB() int {
	if v, err := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && v > 0 {
		return v
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			return int(v >> 20)
		}
	}
	return 0
}

// argonKey is argon2.IDKey within the concurrency bound.
func argonKey(password, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
	argonSem <- struct{}{}
	n := argonActive.Add(1)
	for {
		peak := argonPeak.Load()
		if n <= peak || argonPeak.CompareAndSwap(peak, n) {
			break
		}
	}
	defer func() {
		argonActive.Add(-1)
		<-argonSem
	}()
	return argon2.IDKey(password, salt, t, m, p, keyLen)
}
