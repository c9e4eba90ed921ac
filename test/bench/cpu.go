package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100 on every Linux we run).
const clockTick = 100

// procStat is one process's line of /proc/<pid>/stat: its name, parent and CPU ticks.
type procStat struct {
	pid, ppid   int
	comm        string
	self, child int64 // utime+stime, and cutime+cstime (children it has waited for)
}

// readStat parses /proc/<pid>/stat; the name (field 2) may hold spaces and parentheses, so fields are
// counted after its last ')'.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	return parseStat(pid, string(b))
}

func parseStat(pid int, s string) (procStat, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i-3], 10, 64); return v }
	return procStat{pid: pid, ppid: int(n(4)), comm: s[open+1 : end], self: n(14) + n(15), child: n(16) + n(17)}, true
}

// allProcs reads every process of the machine.
func allProcs() []procStat {
	ents, _ := os.ReadDir("/proc")
	var ps []procStat
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if p, ok := readStat(pid); ok {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// treeCPU is the CPU time of root and all its descendants: each live process's own time plus the time of
// its children that have ended (cutime, cstime), so nothing is counted twice.
func treeCPU(ps []procStat, root int) time.Duration {
	in := map[int]bool{root: true}
	for grew := true; grew; { // parents may come after children in /proc order
		grew = false
		for _, p := range ps {
			if !in[p.pid] && in[p.ppid] {
				in[p.pid], grew = true, true
			}
		}
	}
	var ticks int64
	for _, p := range ps {
		if in[p.pid] {
			ticks += p.self + p.child
		}
	}
	return ticksToDuration(ticks)
}

// childrenNamed are the pids of the direct children of parent with the given name (e.g. the postmaster).
func childrenNamed(ps []procStat, parent int, comm string) []int {
	var pids []int
	for _, p := range ps {
		if p.ppid == parent && p.comm == comm {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// ownCPU is one process's own CPU time, without its children.
func ownCPU(ps []procStat, pid int) time.Duration {
	for _, p := range ps {
		if p.pid == pid {
			return ticksToDuration(p.self)
		}
	}
	return 0
}

func ticksToDuration(t int64) time.Duration { return time.Duration(t) * time.Second / clockTick }
