//go:build !linux

package clustertest

import "syscall"

// sysProcAttr: only Linux has Pdeathsig; elsewhere Close is the only
// guard against orphaned nodes.
func sysProcAttr() *syscall.SysProcAttr { return nil }
