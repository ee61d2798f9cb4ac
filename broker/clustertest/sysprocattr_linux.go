package clustertest

import "syscall"

// sysProcAttr makes the kernel SIGKILL a node when the thread that started
// it exits, which it does with the process that started it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
