//go:build race

package segment_test

// raceEnabled: the race detector's instrumentation of system calls makes a pread buffer
// escape, so allocation counts differ from the build users run.
const raceEnabled = true
