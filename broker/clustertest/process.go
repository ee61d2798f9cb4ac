package clustertest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a running (or exited) child process.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and been reaped
	err    error         // how it exited; set before exited is closed
}

// startProcess starts bin with args, its stdout and stderr appended to
// logPath after a line saying when it started.
func startProcess(bin, logPath string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "----- clustertest: %s %s, at %s -----\n", bin, strings.Join(args, " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := startFromLockedThread(cmd); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// starts carries cmd.Start calls to the one goroutine that makes them,
// locked to its thread for the life of the process. Pdeathsig fires when
// the thread that started the child exits, not the process: Go may end a
// thread when a goroutine exits locked to it, and a child started from
// that thread would be killed with it. This thread never ends.
var starts = make(chan startRequest)

type startRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var startsOnce sync.Once

func startFromLockedThread(cmd *exec.Cmd) error {
	startsOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // and never unlocked: the goroutine never returns
			for req := range starts {
				req.done <- req.cmd.Start()
			}
		}()
	})
	req := startRequest{cmd: cmd, done: make(chan error, 1)}
	starts <- req
	return <-req.done
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (to a process that may have exited already).
func (p *process) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// stop sends SIGTERM and waits up to timeout for the process to exit; it
// is an error when it exits with a status other than 0, or does not exit
// in time (it is then killed).
func (p *process) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		return p.err
	case <-timer.C:
		p.kill()
		<-p.exited
		return fmt.Errorf("did not exit within %v of SIGTERM; killed", timeout)
	}
}

// built is Build's result, made once per process.
var built struct {
	once sync.Once
	path string
	err  error
}

// Build builds runnel/cmd/runnel from the checkout holding the working
// directory (go build; the build cache makes it quick) once per process,
// and returns the binary's path. The binary is kept in a directory of the
// temporary directory named after the checkout, one per checkout, replaced
// atomically so that test processes building at once do not see each
// other's halves.
func Build() (string, error) {
	built.once.Do(func() { built.path, built.err = build() })
	return built.path, built.err
}

func build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("clustertest: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("clustertest: the working directory is not in the runnel module: set Options.Binary")
	}
	root := filepath.Dir(gomod)
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "runnel-clustertest-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("clustertest: %w", err)
	}
	tmp := filepath.Join(dir, fmt.Sprintf("runnel.%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", tmp, "runnel/cmd/runnel")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("clustertest: go build runnel/cmd/runnel: %w\n%s", err, out)
	}
	path := filepath.Join(dir, "runnel")
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("clustertest: %w", err)
	}
	return path, nil
}

// Tail is the last n bytes of a file, for error messages ("" when it
// cannot be read).
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(b)
}
