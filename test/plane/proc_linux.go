package plane

import "syscall"

// sysProcAttr puts each component in its own process group (so a stop
// reaches its children too) and has the kernel kill it if the process that
// started it dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
