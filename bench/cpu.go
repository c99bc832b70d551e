package bench

// cpu.go: CPU-time accounting of the pipeline benchmark — this process (by
// getrusage) and the PostgreSQL and Redis server processes (by
// /proc/<pid>/stat), before and after a run.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// serverCPU sums the CPU time of every process whose command name is one of
// names (postgres: the postmaster and all backends; redis-server), per
// pid, so that processes that start or end during a run are counted by
// their difference only (a backend started during the run counts from 0).
func serverCPU(names ...string) map[int]time.Duration {
	out := map[int]time.Duration{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := s[open+1 : closing]
		match := false
		for _, n := range names {
			if comm == n {
				match = true
			}
		}
		if !match {
			continue
		}
		// Fields after the command: state(3) ... utime(14) stime(15).
		f := strings.Fields(s[closing+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		out[pid] = time.Duration(ut+st) * time.Second / clockTicks
	}
	return out
}

// cpuDelta is the CPU the processes used between two serverCPU readings.
func cpuDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}
