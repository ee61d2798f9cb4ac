package main

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"runnel/broker"
	"runnel/internal/wait"
)

// TestServeShutsDownCleanlyOnSIGTERM runs serve as `runnel serve` does and
// sends this process SIGTERM: serve must return without error, having
// written the clean-shutdown marker.
func TestServeShutsDownCleanlyOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, _, err := broker.LoadConfig("", []string{"listeners=PLAINTEXT://" + addr, "log.dirs=" + dir, "runnel.admin.listener="})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(cfg, slog.New(slog.DiscardHandler)) }()
	wait.Until(t, 10*time.Second, "the broker to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, ".kafka_cleanshutdown")); err != nil {
		t.Errorf("no clean-shutdown marker: %v", err)
	}
}
