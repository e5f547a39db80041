// Package guard is Framebroker's router table and its access checks (T-01).
// Every route declares a Policy; the table refuses to build a route without
// one. For workspace routes the guard authenticates the caller, checks that
// they are a member with at least the route's role, and checks that every
// resource named in the path ({project}, {shot}, …) belongs to that workspace,
// all before the handler runs, inside the transaction the handler then uses.
// A resource of another workspace is answered exactly like a missing one.
package guard

import (
	"fmt"

	"github.com/framebroker/framebroker/shared/id"
)

// Role is a member's role in a workspace; a higher Role may do all a lower
// one may.
type Role int8

// The roles, weakest first. RoleNone is "not a member".
const (
	RoleNone Role = iota
	Viewer
	Editor
	Admin
	Owner
)

var roleNames = [...]string{"", "viewer", "editor", "admin", "owner"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("Role(%d)", int8(r))
	}
	return roleNames[r]
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if i > 0 && n == s {
			return Role(i), nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q (want viewer, editor, admin or owner)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Principal is an authenticated caller.
type Principal struct {
	User    id.UserID
	Session id.SessionID
}
