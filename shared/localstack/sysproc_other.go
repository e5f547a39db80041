//go:build !linux

package localstack

import "syscall"

// childSysProcAttr puts a child in its own process group, so a terminal
// Ctrl-C reaches only us and we stop the peers in order. Outside Linux there
// is no parent-death signal: a killed parent leaves the peers running.
func childSysProcAttr(cred *credential) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if cred != nil {
		attr.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid}
	}
	return attr
}

// supportsXattr assumes the filesystem keeps user extended attributes.
func supportsXattr(string) bool { return true }
