package node

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
)

const (
	envDutyRepo  = "CAIRN_TEST_DUTY_REPO"
	envDutyPoint = "CAIRN_TEST_DUTY_POINT"
	dutyBlocks   = 6
	dutyKillAt   = 3 // the block whose push is killed
)

func dutyBlock(t *testing.T, i int) (cid.Cid, []byte) {
	t.Helper()
	data := make([]byte, 5000+i*3000)
	rand.New(rand.NewSource(int64(40 + i))).Read(data)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	if err != nil {
		t.Fatal(err)
	}
	return c, data
}

func openLocalRepo(t *testing.T, dir string) (*Local, func()) {
	t.Helper()
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLocal(r)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	return l, func() { l.Close(); r.Close() }
}

// storeReplica keeps a block as a push of one does: written with its
// duty mark, then committed.
func (l *Local) storeReplica(c cid.Cid, data []byte) error {
	if err := l.writeReplica(c, data); err != nil {
		return err
	}
	return l.commitReplicas()
}

// TestHelperProcessDutyPush is the child: it takes pushed blocks two a
// batch, as a batched push does (each written, then one commit), printing
// "ack N" for each one acknowledged, and SIGKILLs itself at the parent's
// chosen point of block dutyKillAt, the second of its batch.
func TestHelperProcessDutyPush(t *testing.T) {
	dir := os.Getenv(envDutyRepo)
	if dir == "" {
		t.Skip("helper process for TestAPushedBlockAndItsDutyMarkAreDurableTogether")
	}
	point := os.Getenv(envDutyPoint)
	l, _ := openLocalRepo(t, dir)
	out := bufio.NewWriter(os.Stdout)
	kill := func() {
		out.Flush()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	for i := 0; i < dutyBlocks; i += 2 {
		for j := i; j < i+2; j++ {
			c, data := dutyBlock(t, j)
			if j == dutyKillAt && point == "written" {
				testHookReplicaWritten = kill // after the batch's first write, before its commit
			}
			if err := l.writeReplica(c, data); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.commitReplicas(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "ack %d\nack %d\n", i, i+1)
		if i+1 == dutyKillAt && point == "acked" {
			kill()
		}
	}
	out.Flush()
	t.Fatal("still alive")
}

// A batch of pushes is killed between its writes and its commit (and,
// for contrast, just after its acknowledgement): on reopen every block is
// held with its duty mark or not at all, and every acknowledged one is
// held.
func TestAPushedBlockAndItsDutyMarkAreDurableTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for _, point := range []string{"written", "acked"} {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := repo.Init(dir, repo.InitOptions{}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessDutyPush$", "-test.count=1")
			cmd.Env = append(os.Environ(), envDutyRepo+"="+dir, envDutyPoint+"="+point)
			outb, err := cmd.Output()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed by SIGKILL: %v\n%s", err, outb)
			}
			acked := strings.Count(string(outb), "ack ")
			l, done := openLocalRepo(t, dir)
			defer done()
			for i := range dutyBlocks {
				c, _ := dutyBlock(t, i)
				held, marked := l.Has(c), l.isDuty(c.Hash())
				if held != marked {
					t.Errorf("block %d: held %v but duty mark %v", i, held, marked)
				}
				if i < acked && !held {
					t.Errorf("block %d was acknowledged and is gone", i)
				}
			}
			if want := map[string]int{"written": dutyKillAt - 1, "acked": dutyKillAt + 1}[point]; acked != want {
				t.Fatalf("%d blocks acknowledged before the kill, want %d", acked, want)
			}
		})
	}
}
