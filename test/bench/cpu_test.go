package main

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, line  string
		ok          bool
		ppid        int
		comm        string
		self, child int64
	}{
		{"plain", "42 (java) S 7 42 42 0 -1 4194560 1 0 0 0 150 50 10 5 20 0 60 0 100 0 0", true, 7, "java", 200, 15},
		{"name with spaces and parentheses", "9 (a (b) c) R 1 9 9 0 -1 0 0 0 0 0 3 4 5 6 20 0 1 0 1 0 0", true, 1, "a (b) c", 7, 11},
		{"truncated", "9 (x) R 1 9", false, 0, "", 0, 0},
		{"no name", "garbage", false, 0, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := parseStat(1, tt.line)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (p.ppid != tt.ppid || p.comm != tt.comm || p.self != tt.self || p.child != tt.child) {
				t.Errorf("got %+v", p)
			}
		})
	}
}

func TestTreeCPU(t *testing.T) {
	// 1 -> 2 -> 3, and 4 elsewhere; children may be listed before their parents.
	ps := []procStat{{pid: 3, ppid: 2, self: 5}, {pid: 2, ppid: 1, self: 10, child: 100}, {pid: 1, ppid: 0, self: 1}, {pid: 4, ppid: 0, self: 1000}}
	tests := []struct {
		root int
		want time.Duration
	}{
		{1, ticksToDuration(116)},
		{2, ticksToDuration(115)},
		{4, ticksToDuration(1000)},
		{99, 0},
	}
	for _, tt := range tests {
		if got := treeCPU(ps, tt.root); got != tt.want {
			t.Errorf("treeCPU(%d) = %s, want %s", tt.root, got, tt.want)
		}
	}
	if got := ownCPU(ps, 2); got != ticksToDuration(10) {
		t.Errorf("ownCPU(2) = %s", got)
	}
}
