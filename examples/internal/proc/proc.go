// Package proc runs the order flow as a user would: a runnel broker and the
// example services as processes of their own, talking only over TCP. It is
// what `make demo` and the end-to-end test share: start a process, keep the
// lines it logs (optionally copying them, prefixed by its name, to a
// writer), stop it with SIGTERM or kill it.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 20 * time.Second

// Process is a running program and what it has logged so far.
type Process struct {
	Name   string
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has exited and its output is read
	waited error         // how it exited, set before done is closed

	mu struct {
		sync.Mutex
		lines []string
	}
}

// Start runs bin with args. Its stdout and stderr are read line by line;
// each line is kept (Lines) and, when echo is not nil, written to it after
// the process's name.
func Start(echo io.Writer, name, bin string, args ...string) (*Process, error) {
	p := &Process{Name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = p.cmd.Stdout
	// In a process group of its own, a terminal's Ctrl-C reaches only the
	// demo, which stops the services before the broker they need to stop
	// cleanly. Should the demo or the test die without stopping it (a
	// crash, a closed pipe under `make demo | head`), the kernel sends the
	// process SIGTERM: no broker or service outlives what started it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("proc: starting %s: %w", name, err)
	}
	go func() {
		scanner := bufio.NewScanner(out)
		scanner.Buffer(make([]byte, 64<<10), 16<<20)
		for scanner.Scan() {
			line := scanner.Text()
			p.mu.Lock()
			p.mu.lines = append(p.mu.lines, line)
			p.mu.Unlock()
			if echo != nil {
				fmt.Fprintf(echo, "%-13s | %s\n", name, line)
			}
		}
		p.waited = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Lines is a copy of the lines the process has written so far.
func (p *Process) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.mu.lines...)
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and says how it did (nil: status 0).
func (p *Process) Wait() error {
	<-p.done
	return p.waited
}

// Stop sends SIGTERM and waits for the process to exit, killing it if it
// has not within 20 s. The error is how it exited; nil if it had exited
// with status 0 or does now.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waited
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("proc: %s did not exit within %v of SIGTERM; killed", p.Name, stopTimeout)
	}
}

// Kill sends SIGKILL, as a crash, and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// FreeAddr is a 127.0.0.1 address with a port free at the time of asking.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Broker is a runnel broker process over a data directory of its own.
type Broker struct {
	*Process
	Addr string // host:port for clients
}

// StartBroker starts `runnel serve` on a free port with its data in
// dataDir, small preallocation (the demo's topics are small) and no delay
// before a new group's first rebalance, and waits until it answers
// Metadata. Only the broker's warnings are logged.
func StartBroker(echo io.Writer, runnel, dataDir string) (*Broker, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := Start(echo, "runnel", runnel, "serve", "--log-level", "warn",
		"--override", "listeners=PLAINTEXT://"+addr,
		"--override", "log.dirs="+dataDir,
		"--override", "runnel.admin.listener=",
		"--override", "runnel.segment.preallocate.bytes=65536",
		"--override", "group.initial.rebalance.delay.ms=0",
	)
	if err != nil {
		return nil, err
	}
	b := &Broker{Process: p, Addr: addr}
	if err := b.waitReady(30 * time.Second); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return b, nil
}

// waitReady asks for the broker list until the broker answers, it exits,
// or limit passes.
func (b *Broker) waitReady(limit time.Duration) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		_, err := kadm.NewClient(client).ListBrokers(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-b.Done():
			return fmt.Errorf("proc: runnel exited at start (%v): %s", b.Wait(), strings.Join(b.Lines(), "\n"))
		case <-ctx.Done():
			return fmt.Errorf("proc: runnel not ready on %s after %v: %w", b.Addr, limit, errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
