//go:build linux

package localstack

import "syscall"

// childSysProcAttr puts a child in its own process group, so a terminal
// Ctrl-C reaches only us and we stop the peers in order, and has the kernel
// SIGKILL it if we die without stopping it. Go applies Pdeathsig after
// switching credentials, which would otherwise clear it.
func childSysProcAttr(cred *credential) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cred != nil {
		attr.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid}
	}
	return attr
}

// supportsXattr reports whether dir's filesystem stores user extended
// attributes, which versitygw's posix backend keeps object metadata in.
func supportsXattr(dir string) bool {
	err := syscall.Setxattr(dir, "user.framebroker.probe", []byte("1"), 0)
	if err != nil {
		return false
	}
	_ = syscall.Removexattr(dir, "user.framebroker.probe")
	return true
}
