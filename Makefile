# cairn — make targets. `make test` is what CI runs (.ci/run).
GO       ?= go
BIN      := bin/cairn
PKGS     := ./...
# The race detector runs on every package but the network simulations
# (hundreds of goroutines per node make them 5-10x slower under it); -short
# keeps the big vectors (100 MB) out of the race run, and test-vectors
# runs them at full speed.
RACEFLAGS := -race -short -timeout 8m
RACEPKGS  = $(shell $(GO) list ./... | grep -v -e '/simulations$$' -e '/simulations/testnet$$')

.PHONY: fuzz all build run tour test screenshot test-testnet testnet chaos test-race test-sim test-vectors vet fmt-check bench bench-go bench-add bench-addtree bench-transfer bench-provide bench-cluster bench-gateway bench-daemons bench-ingest bench-readafter bench-trust bench-repair bench-million conformance interop-kubo sim clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/cairn

# Start a node with its gateway (making a repo first if there is none).
run: build
	@./scripts/run.sh $(BIN)

# A short tour of add, stat and cat on the local store.
tour: build
	@./scripts/tour.sh $(BIN)

test: vet fmt-check test-race test-sim test-vectors test-testnet

# The README's screenshot of the web console, taken by its browser test.
screenshot:
	CAIRN_CONSOLE_SCREENSHOT=$(CURDIR)/gateway/console/overview.png $(GO) test -count=1 -run TestConsoleInABrowser ./cmd/cairn/

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

test-race:
	$(GO) test $(RACEFLAGS) $(RACEPKGS)

# the small variants of the network simulations
test-sim:
	$(GO) test -short -count=1 -timeout 5m ./simulations/ ./simulations/model/

# daemons in network namespaces: a short fault schedule (skipped, with a
# message, where namespaces cannot be made); alone, without the race
# detector, so its timers see a quiet machine
test-testnet:
	$(GO) test -count=1 -timeout 8m ./simulations/testnet/

# N daemons in network namespaces until Ctrl-C (root)
N ?= 7
testnet: build
	$(GO) run ./cmd/cairn-testnet -cairn $(BIN) -n $(N) up

# the default fault schedule against N daemons, with its report and plots
# in simulations/testnet/report/ and the daemons' logs in CHAOSDIR (root;
# about 8 minutes)
CHAOSDIR ?= /tmp/cairn-chaos
chaos: build
	$(GO) run ./cmd/cairn-testnet -cairn $(BIN) -n $(N) -seed 1 -length 5m -dir $(CHAOSDIR) chaos

test-vectors:
	$(GO) test -count=1 -run 'Vectors|KilledAdd|ThreeDaemons' ./chunk/ ./cmd/cairn/

bench: bench-go bench-add bench-addtree bench-transfer bench-provide bench-gateway bench-cluster bench-daemons bench-ingest bench-readafter bench-trust bench-repair bench-million

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./chunk/...

# add throughput for a 1 GiB random file against sha2-256 and disk speed
bench-add: build
	$(GO) run ./cmd/cairn-bench -cairn $(BIN) -size 1073741824 -runs 3

# add -r of 10,000 files of 1 to 8,000 bytes into a fresh repo (files/s,
# peak RSS)
bench-addtree: build
	$(GO) run ./cmd/cairn-bench -run addtree -cairn $(BIN) -runs 3

# fetch of a 1 GiB file between in-process nodes over loopback, from one
# provider and from three, against loopback TCP and sha2-256
bench-transfer:
	$(GO) run ./cmd/cairn-bench -run transfer -size 1073741824 -runs 3

# a node holding a million blocks (one folder of 1,000,000 small files,
# added offline): its daemon's start, resident memory once idle, and pin
# ls, repo verify and repo gc through it, timed
bench-million: build
	$(GO) run ./cmd/cairn-bench -run million -cairn $(BIN) -files 1000000

# announcing the 4,096 blocks of a 1 GiB file in a 20-node loopback network
bench-provide:
	$(GO) run ./cmd/cairn-bench -run provide

# native Go fuzzing of every decoder of outside input, each target for
# FUZZTIME; their seed corpora run as ordinary tests in make test
FUZZTIME ?= 60s
FUZZ_TARGETS = ./node/exchange:FuzzReadFrame ./node/exchange:FuzzDecodeCIDs ./chunk:FuzzDagPB \
	./node/pinset:FuzzDelta ./node/pinset:FuzzHeads ./gateway:FuzzRangeHeader \
	./node/repo:FuzzConfigSet ./node:FuzzImportCAR ./chunk:FuzzDirectory ./chunk:FuzzParseCID \
	./cmd/nodeapi:FuzzParseDialAddr
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# the cluster's pin set: 100,000 pins written on one node and held by a
# second (time, heap, listing), a 1 GiB file freed by an unpin, and a
# daemon given 100,000 pins by dag import (pin ls and status through the
# CLI, resident memory)
bench-cluster:
	$(GO) test -run '^$$' -bench 'PinSetOf100kPins|UnpinFreesAGiB' -benchtime 1x -timeout 20m ./node/
	$(GO) test -run '^$$' -bench 'DaemonWith100kPins' -benchtime 1x -timeout 20m ./cmd/cairn/

# the HTTP gateway of an in-process node over loopback: 1,000 1 KiB
# objects on 16 keep-alive connections (req/s), and a 1 GiB object per
# fresh connection (TTFB and MB/s)
bench-gateway:
	$(GO) run ./cmd/cairn-bench -run gateway -size 1073741824 -runs 3 -duration 10s
	$(GO) test -run '^$$' -bench 'ListingOfABigFolder' -benchtime 3x ./gateway/

# cairn get -o of 512 MiB between real daemons on loopback (R=W=1), from
# one provider daemon and from three, against the in-process fetch
bench-daemons: build
	$(GO) run ./cmd/cairn-bench -run daemons -cairn $(BIN) -size 536870912 -runs 3

# 1 KiB adds through one daemon's API (alone, W=1) from 1 and 16 clients,
# in process, and the store's group commit alone (the yardstick)
bench-ingest:
	$(GO) test -run '^$$' -bench 'Ingest1KiB' -benchtime 5000x ./cmd/cairn/
	$(GO) test -run '^$$' -bench 'SmallAdds' -benchtime 5000x ./node/
	$(GO) test -run '^$$' -bench 'SmallSyncs' -benchtime 10000x ./chunk/store/

# add of 1 GiB through a daemon, then its first and second GET, for each
# page-cache policy of the store
bench-readafter: build
	$(GO) run ./cmd/cairn-bench -run readafter -cairn $(BIN) -size 1073741824 -runs 3

# ten loopback nodes hold 1 GiB at 3 copies, one dies: time until every
# block is back at 3, unlimited and at 20 MB/s per node, against the
# one-provider fetch rate (CAIRN_REPAIR_BENCH_BYTES for another size,
# CAIRN_REPAIR_PROFILE=FILE for a CPU profile of the repair alone,
# CAIRN_REPAIR_TRACE=FILE for an execution trace of it)
bench-repair:
	$(GO) test -run '^$$' -bench 'RepairAfterANodeDies' -benchtime 1x -timeout 30m ./node/

# the cost of proofs of possession: a prove of 64 blocks, and a
# replicated add with every copy proved
bench-trust:
	$(GO) test -run '^$$' -bench 'Challenge|ReplicatedAdd' -benchtime 5x ./node/

# folders both ways with kubo through CARs (skipped without an ipfs binary)
interop-kubo: build
	@./scripts/kubo-interop.sh $(BIN)

# the full simulations (256 nodes, minutes of churn, the model to 100,000
# peers); writes simulations/report/README.md and its plots
sim:
	$(GO) test -count=1 -timeout 40m -v ./simulations/ -sim -report $(CURDIR)/simulations/report

# the IPFS gateway conformance suite against a fresh daemon holding its
# fixtures: trustless, path-unixfs, path-raw and path-dag (not part of test)
conformance: build
	./scripts/conformance.sh $(BIN)

clean:
	rm -rf bin
