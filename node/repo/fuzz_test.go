package repo

import (
	"encoding/json"
	"testing"
)

// FuzzConfigSet sets any key to any value: never a panic, and a value
// refused leaves the config as it was.
func FuzzConfigSet(f *testing.F) {
	f.Add("Storage.Max", "1TB")
	f.Add("Cluster.Writers", `["12D3KooWHHzSeKaY8xuZVzkLbKFfvNgPPeKhFBGrMbNzbm5akpqu"]`)
	f.Add("Replication.Factor", "-1")
	f.Add("Gateway.APIHosts", "[")
	f.Fuzz(func(t *testing.T, key, value string) {
		c := DefaultConfig()
		before, _ := json.Marshal(c)
		if err := c.Set(key, value); err != nil {
			if after, _ := json.Marshal(c); string(after) != string(before) {
				t.Fatalf("Set(%q, %q) failed (%v) and changed the config", key, value, err)
			}
		}
	})
}
