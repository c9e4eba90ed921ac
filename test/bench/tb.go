package main

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// benchTB lets the bench drive testing/kctest's browser helpers, which take a testing.TB, outside a test.
// Fatal panics with a tbFailure that tbRun turns back into an error; only the methods kctest calls are
// implemented (the embedded nil TB panics on any other).
type benchTB struct {
	testing.TB
	name     string
	mu       sync.Mutex
	cleanups []func()
}

type tbFailure struct{ msg string }

func newTB(name string) *benchTB { return &benchTB{name: name} }

func (t *benchTB) Helper()                           {}
func (t *benchTB) Name() string                      { return t.name }
func (t *benchTB) Logf(string, ...any)               {}
func (t *benchTB) Fatal(args ...any)                 { panic(tbFailure{fmt.Sprint(args...)}) }
func (t *benchTB) Fatalf(format string, args ...any) { panic(tbFailure{fmt.Sprintf(format, args...)}) }
func (t *benchTB) Errorf(format string, args ...any) { panic(tbFailure{fmt.Sprintf(format, args...)}) }
func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// close runs the cleanups, last first, as testing does.
func (t *benchTB) close() {
	t.mu.Lock()
	fs := slices.Clone(t.cleanups)
	t.cleanups = nil
	t.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// tbRun calls f, returning a Fatal of t as an error.
func tbRun(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			x, ok := r.(tbFailure)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", x.msg)
		}
	}()
	f()
	return nil
}
