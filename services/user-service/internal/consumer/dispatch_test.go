package consumer

import (
	"slices"
	"testing"
	"time"
)

// dispatcher runs dispatch over ints with 2 workers and batches of 8 (a quarter: 2).
type dispatcher struct {
	in   chan int
	out  chan []int
	done chan struct{}
}

func startDispatch(t *testing.T) dispatcher {
	t.Helper()
	d := dispatcher{in: make(chan int), out: make(chan []int), done: make(chan struct{}, 2)}
	go dispatch(d.in, d.out, d.done, 2, 8)
	return d
}

func (d dispatcher) next(t *testing.T) []int {
	t.Helper()
	select {
	case b := <-d.out:
		return b
	case <-time.After(2 * time.Second):
		t.Fatal("no batch")
		return nil
	}
}

// want fails unless the next batch is exactly want.
func (d dispatcher) want(t *testing.T, want ...int) {
	t.Helper()
	if b := d.next(t); !slices.Equal(b, want) {
		t.Fatalf("batch %v, want %v", b, want)
	}
}

func (d dispatcher) none(t *testing.T) {
	t.Helper()
	select {
	case b := <-d.out:
		t.Fatalf("batch %v, want none yet", b)
	case <-time.After(50 * time.Millisecond):
	}
}

func (d dispatcher) send(ms ...int) {
	for _, m := range ms {
		d.in <- m
	}
}

func TestALoneEventGoesAtOnce(t *testing.T) {
	d := startDispatch(t)
	d.send(1)
	d.want(t, 1)
}

func TestEventsGatherWhileABatchIsInFlight(t *testing.T) {
	d := startDispatch(t)
	d.send(1)
	d.next(t)
	d.send(2) // less than a quarter of a batch: waits for the one in flight
	d.none(t)
	d.done <- struct{}{}
	d.want(t, 2)
}

func TestASecondBatchStartsOnceAQuarterWaits(t *testing.T) {
	d := startDispatch(t)
	d.send(1)
	d.next(t)
	d.send(2, 3)
	d.want(t, 2, 3)
	d.send(4, 5, 6) // both workers busy: nothing starts until one is done
	d.none(t)
	d.done <- struct{}{}
	d.want(t, 4, 5, 6)
}

func TestBatchesAreAtMostTheBatchSize(t *testing.T) {
	d := startDispatch(t)
	d.send(1)
	d.next(t)
	d.send(2, 3)
	d.next(t) // both workers busy
	go d.send(4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
	time.Sleep(50 * time.Millisecond)
	d.done <- struct{}{}
	d.want(t, 4, 5, 6, 7, 8, 9, 10, 11)
}

func TestTheEndDispatchesWhatWaitsThenCloses(t *testing.T) {
	d := startDispatch(t)
	d.send(1)
	d.next(t)
	d.send(2)
	close(d.in) // the input ended: what waits goes even below a quarter
	d.want(t, 2)
	d.done <- struct{}{}
	d.done <- struct{}{}
	select {
	case _, ok := <-d.out:
		if ok {
			t.Fatal("a batch after the end")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("out not closed after the batches in flight finished")
	}
}
