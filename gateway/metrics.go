package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	ttfb     *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry, b Backend) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_requests_total",
			Help: "HTTP requests served, by status.",
		}, []string{"status"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_response_bytes_total",
			Help: "Response body bytes written, by route (ipfs, api, metrics, other).",
		}, []string{"route"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cairn_http_time_to_first_byte_seconds",
			Help: "Time from a request's arrival to the first byte of its response body, by route.",
			// From a local block (~100µs) to a slow network fetch (~10s).
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 12),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.bytes, m.ttfb)
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge("cairn_store_blocks", "Blocks in the local store.", func() float64 { return float64(b.Metrics().StoreBlocks) })
	gauge("cairn_store_bytes", "Data bytes of the blocks in the local store.", func() float64 { return float64(b.Metrics().StoreBytes) })
	gauge("cairn_store_garbage_bytes", "Bytes of deleted records awaiting compaction.", func() float64 { return float64(b.Metrics().StoreGarbage) })
	gauge("cairn_peers", "Connected peers.", func() float64 { return float64(b.Metrics().Peers) })
	counter("cairn_repair_walks_total", "Repair walks run.", func() float64 { return float64(b.Metrics().RepairWalks) })
	counter("cairn_repair_pushes_total", "Copies made by repair.", func() float64 { return float64(b.Metrics().RepairPushes) })
	counter("cairn_replication_bytes_total", "Bytes pushed to other nodes (writes and repairs).", func() float64 { return float64(b.Metrics().ReplicationBytes) })
	gauge("cairn_under_replicated_chunks", "Chunks held here that had fewer than R live copies at the last walk.", func() float64 { return float64(b.Metrics().UnderReplicated) })
	gauge("cairn_repair_queue", "Repairs waiting in the current walk.", func() float64 { return float64(b.Metrics().RepairQueue) })
	counter("cairn_scrub_errors_total", "Blocks found corrupt (by the scrubber or a read) since start.", func() float64 { return float64(b.Metrics().ScrubErrors) })
	counter("cairn_passed_through_blocks_total", "Blocks a read got from a holder and served without storing them, the store having no room, since start.", func() float64 { return float64(b.Metrics().PassedThrough) })
	counter("cairn_push_batches_total", "Streams of batched pushes sent to other nodes (writes, repairs, drains).", func() float64 { return float64(b.Metrics().PushBatches) })
	counter("cairn_batched_pushes_total", "Blocks those batches carried (divide by batches for the mean batch).", func() float64 { return float64(b.Metrics().BatchedPushes) })
	counter("cairn_dht_lookups_total", "DHT lookups made.", func() float64 { return float64(b.Metrics().DHTLookups) })
	counter("cairn_dht_lookup_rpcs_total", "RPCs sent by DHT lookups.", func() float64 { return float64(b.Metrics().DHTRPCs) })
	counter("cairn_dht_lookup_hops_total", "Hops of DHT lookups (divide by lookups for the mean).", func() float64 { return float64(b.Metrics().DHTHops) })
	return m
}
