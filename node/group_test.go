package node

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestAGroupCommitsWaitingCallersTogetherAndEveryoneGetsTheResult(t *testing.T) {
	var mu sync.Mutex
	var commits [][]int
	hold := make(chan struct{})
	first := make(chan struct{})
	fail := errors.New("disk on fire")
	g := &group[int]{commit: func(items []int) error {
		mu.Lock()
		commits = append(commits, slices.Clone(items))
		n := len(commits)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-hold
			return nil
		}
		return fail
	}}
	errs := make(chan error, 11)
	go func() { errs <- g.do(0) }()
	<-first
	var queued sync.WaitGroup
	for i := 1; i <= 10; i++ {
		queued.Add(1)
		go func() {
			defer queued.Done()
			errs <- g.do(i)
		}()
	}
	// Let the ten queue up behind the held commit.
	pollUntil(t, 10*time.Second, "ten callers queued", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.queue) == 10
	})
	close(hold)
	var failed int
	for range 11 {
		if err := <-errs; errors.Is(err, fail) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	queued.Wait()
	if len(commits) != 2 || len(commits[1]) != 10 {
		t.Fatalf("commits %v: want the first alone, then the ten waiting together", commits)
	}
	if failed != 10 {
		t.Fatalf("%d callers got the second commit's error, want all 10", failed)
	}
	if g.leading || len(g.queue) != 0 {
		t.Fatal("the group did not come to rest")
	}
}
