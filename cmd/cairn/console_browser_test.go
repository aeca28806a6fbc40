package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// screenshotEnv names a PNG file the browser test writes the overview to
// (make screenshot sets it).
const screenshotEnv = "CAIRN_CONSOLE_SCREENSHOT"

// chromium finds a Chromium or Chrome binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium installed (apt-get install chromium): the console's browser test is skipped")
	return ""
}

// consoleCluster starts three daemons that report their status twice a
// second, and returns the first's API base and token once its status
// lists all three.
func consoleCluster(t *testing.T) (base, token string) {
	t.Helper()
	var repos []string
	for i := range 3 {
		dir := newRepo(t)
		mustCairn(t, dir, nil, "config", "Cluster.StatusInterval", "500ms")
		var extra []string
		if i > 0 {
			extra = []string{"--bootstrap", daemonID(t, repos[0]).Addresses[0]}
		}
		startDaemon(t, dir, extra...)
		repos = append(repos, dir)
	}
	// A few files, so the overview has pins to count.
	for i, name := range []string{"site-backup.tar", "photos-2026.zip", "notes.md"} {
		mustCairn(t, repos[i], nil, "add", writeNamedFile(t, name, randomBytes(int64(i), (i+1)<<20)))
	}
	b, err := os.ReadFile(repo.APIFilePath(repos[0]))
	if err != nil {
		t.Fatal(err)
	}
	base = strings.TrimSpace(string(b))
	if token, err = repo.ReadAPIToken(repos[0]); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "the first daemon's status lists three nodes up", func() bool {
		var st gateway.ClusterStatus
		return getJSON(base+"/api/v1/status", &st) == nil && upNodes(st) == 3
	})
	return base, token
}

func upNodes(st gateway.ClusterStatus) int {
	n := 0
	for _, s := range st.Nodes {
		if s.State == "up" {
			n++
		}
	}
	return n
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// pollUntil polls cond until it holds, or fails the test at the deadline.
func pollUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: not yet true that %s", within, what)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// jsErrors collects what the page reports as errors: exceptions,
// console.error, and browser log errors other than the network's (a 401
// the test provokes on purpose is logged as a failed resource load).
type jsErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (e *jsErrors) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			bad := m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network")
			if bad {
				e.mu.Lock()
				e.msgs = append(e.msgs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				e.mu.Unlock()
			}
		}
	}()
}

func (e *jsErrors) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.msgs) > 0 {
		t.Fatalf("the page reported errors:\n%s", strings.Join(e.msgs, "\n"))
	}
}

// dropFile drops a file with the given name and content on #drop, as a
// drag from the desktop would (a DataTransfer holding a File).
func dropFile(name, content string) chromedp.Action[chromedp.Void] {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([` + q(content) + `], ` + q(name) + `, {type: 'text/plain'}));
		document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`)
}

func browserRun[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func browserDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// In a real browser against three daemons: the overview lists them; an
// upload without the token is refused and the page says why; with it, a
// dropped file is stored, listed under Pins with its copies, and unpinned
// from its page; the read-only pages render with JavaScript off; and the
// page reports no JavaScript error throughout.
func TestConsoleInABrowserAgainstThreeDaemons(t *testing.T) {
	exe := chromium(t)
	base, token := consoleCluster(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	var errs jsErrors
	errs.watch(ctx)
	// Headless Chromium reports no paint timing: the first frame is taken
	// as the second animation frame after navigation began (the first runs
	// before the frame it paints).
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstFrame = performance.now(); }))`,
	}); err != nil {
		t.Fatal(err)
	}

	// Overview: all three nodes, server-rendered and then refreshed.
	browserDo(t, ctx, "open the overview", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("table.nodes")))
	browserRun(t, ctx, "the overview lists three nodes up",
		chromedp.Poll[bool](`document.querySelectorAll('table.nodes tr[data-node] .state.up').length === 3`))
	weight := browserRun(t, ctx, "page weight", chromedp.Evaluate[int](`performance.getEntriesByType('navigation')
		.concat(performance.getEntriesByType('resource')).reduce((n, e) => n + e.decodedBodySize, 0)`))
	paint := browserRun(t, ctx, "first frame", chromedp.Poll[float64](`window.__firstFrame`))
	loaded := browserRun(t, ctx, "load", chromedp.Evaluate[float64](`performance.getEntriesByType('navigation')[0].loadEventEnd`))
	t.Logf("overview: %d bytes in all (HTML, CSS, JS), first frame at %.0f ms, load done at %.0f ms", weight, paint, loaded)
	if weight > 200<<10 {
		t.Errorf("the overview weighs %d bytes, over 200 KB", weight)
	}
	if name := os.Getenv(screenshotEnv); name != "" {
		png := browserRun(t, ctx, "screenshot", chromedp.CaptureScreenshot())
		if err := os.WriteFile(name, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Without the token the API refuses, and the page says why.
	browserDo(t, ctx, "open upload", chromedp.Navigate(base+"/console/upload"), chromedp.WaitVisible(chromedp.CSS("#drop")),
		dropFile("refused.txt", "no token, no upload"))
	msg := browserRun(t, ctx, "the refusal is shown", chromedp.Poll[string](`!document.querySelector('#msg').hidden && document.querySelector('#msg').textContent`))
	if !strings.Contains(msg, "401") || !strings.Contains(msg, "token") {
		t.Fatalf("without a token the page says %q; want the 401 and a word on the token", msg)
	}

	// With the token, a dropped file is stored.
	content := fmt.Sprintf("dropped in a browser at %s\n", time.Now().Format(time.RFC3339Nano))
	browserDo(t, ctx, "enter the token", chromedp.SetValue(chromedp.CSS(`#token-form input[name=token]`), token),
		chromedp.Click(chromedp.CSS(`#token-form button`)), dropFile("dropped.txt", content))
	root, err := chromedp.Run(ctx, chromedp.Poll[string](`(document.querySelector('a[data-uploaded="dropped.txt"]') || {}).textContent`))
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#msg').textContent + ' | ' + document.querySelector('#uploads').innerText + ' | ' + sessionStorage.getItem('cairn-api-token')`))
		t.Fatalf("the upload's CID: %v; the page shows: %s", err, page)
	}
	resp, err := http.Get(base + "/ipfs/" + root)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(blob) != content {
		t.Fatalf("/ipfs/%s reads %q, want %q", root, blob, content)
	}

	// Its link leads to the Files page, which previews it.
	browserDo(t, ctx, "open the upload in Files", chromedp.Click(chromedp.CSS(`a[data-uploaded="dropped.txt"]`)),
		chromedp.WaitVisible(chromedp.CSS("pre.preview")))
	if got := browserRun(t, ctx, "the preview", chromedp.Text(chromedp.CSS("pre.preview"))); strings.TrimSpace(got) != strings.TrimSpace(content) {
		t.Fatalf("the Files page previews %q, want %q", got, content)
	}

	// Pins lists it with its copies, filled in from its status.
	browserDo(t, ctx, "open pins", chromedp.Navigate(base+"/console/pins?q=dropped"))
	copies := browserRun(t, ctx, "the pin's copies", chromedp.Poll[string](
		`((document.querySelector('[data-copies="`+root+`"]') || {}).textContent || '').match(/^\d+ of \d+$/)?.[0]`))
	if m := regexp.MustCompile(`^(\d+) of 3$`).FindStringSubmatch(copies); m == nil || m[1] == "0" {
		t.Fatalf("copies shown %q; want at least one of 3", copies)
	}

	// JavaScript off: the overview and the pins still render.
	noJS, cancelNoJS := chromedp.NewContext(ctx)
	if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	browserDo(t, noJS, "overview without JavaScript", chromedp.Navigate(base+"/"), chromedp.WaitReady(chromedp.CSS("footer")))
	if n := browserRun(t, noJS, "count nodes", chromedp.Evaluate[int](`document.querySelectorAll('table.nodes tr[data-node]').length`)); n != 3 {
		t.Errorf("without JavaScript the overview lists %d nodes, want 3", n)
	}
	browserDo(t, noJS, "pins without JavaScript", chromedp.Navigate(base+"/console/pins"), chromedp.WaitReady(chromedp.CSS("footer")))
	if n := browserRun(t, noJS, "find the pin", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-cid="`+root+`"]').length`)); n != 1 {
		t.Errorf("without JavaScript the pins page lists the upload %d times, want once", n)
	}
	cancelNoJS()

	// Unpin from the pin's page: the button asks twice.
	browserDo(t, ctx, "unpin", chromedp.Navigate(base+"/console/pins/"+root), chromedp.WaitVisible(chromedp.CSS("[data-unpin]")),
		chromedp.Click(chromedp.CSS("[data-unpin]")), chromedp.Click(chromedp.CSS("[data-unpin]")))
	browserRun(t, ctx, "the page confirms the unpin", chromedp.Poll[bool](`document.querySelector('#msg').textContent.startsWith('Unpinned')`))
	var pins gateway.PinsResponse
	if err := getJSON(base+"/api/v1/pins", &pins); err != nil {
		t.Fatal(err)
	}
	if _, ok := findPin(pins.Entries, root); ok {
		t.Fatalf("%s is still in the pin set after the unpin", root)
	}
	errs.check(t)
}
