package repo

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr bool
	}{
		{in: "100GB", want: 100_000_000_000},
		{in: "100GiB", want: 100 << 30}, // 107374182400; 1<<37 would be 128GiB
		{in: "128GiB", want: 1 << 37},
		{in: "1048576", want: 1 << 20},
		{in: "1 MiB", want: 1 << 20},
		{in: "1.5KiB", want: 1536},
		{in: "1.5GiB", want: 3 << 29},
		{in: "0.1TB", want: 100_000_000_000},
		{in: "1.0001KiB", want: 1024}, // rounds down to whole bytes
		{in: "10kB", want: 10_000},
		{in: "10KB", want: 10_000},
		{in: "10kb", want: 10_000},
		{in: "50mb", want: 50_000_000},
		{in: "0", want: 0},
		{in: "  256MiB ", want: 256 << 20},
		{in: "18446744073709551615", want: 1<<64 - 1},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "10XB", wantErr: true},
		{in: "GB", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "16384PiB", wantErr: true}, // 2^64: one past the maximum
		{in: "1.5", wantErr: true},      // fractional bytes
		{in: "1e6", wantErr: true},
		{in: "10mib", wantErr: true}, // binary units are case-sensitive
		{in: "1.KiB", wantErr: true},
		{in: "0x10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadValue) {
					t.Fatalf("ParseSize(%q) = %d, %v; want ErrBadValue", tt.in, got, err)
				}
				if !strings.Contains(err.Error(), `"`+tt.in+`"`) || !strings.Contains(err.Error(), "e.g.") {
					t.Errorf("message %q should quote the input and give an example", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeStringRoundTrips(t *testing.T) {
	tests := []struct {
		size Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1023, "1023"},
		{1000, "1kB"},
		{1024, "1KiB"},
		{1536, "1536"}, // 1.5KiB: no unit divides it, so plain bytes
		{100 * GB, "100GB"},
		{256 * MiB, "256MiB"},
		{64 * GiB, "64GiB"},
		{1024000, "1000KiB"}, // KiB beats kB: larger unit, shorter number
		{1<<64 - 1, "18446744073709551615"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.size.String(); got != tt.want {
				t.Errorf("Size(%d).String() = %q, want %q", uint64(tt.size), got, tt.want)
			}
			back, err := ParseSize(tt.size.String())
			if err != nil || back != tt.size {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.size.String(), back, err, tt.size)
			}
		})
	}
}

func TestSizeJSON(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    Size
		wantErr bool
	}{
		{name: "string", json: `"100GB"`, want: 100 * GB},
		{name: "number of bytes", json: `1048576`, want: MiB},
		{name: "string of bytes", json: `"4096"`, want: 4 * KiB},
		{name: "bad unit", json: `"10XB"`, wantErr: true},
		{name: "negative number", json: `-5`, wantErr: true},
		{name: "fractional number", json: `1.5`, wantErr: true},
		{name: "bool", json: `true`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Size
			err := json.Unmarshal([]byte(tt.json), &s)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %d, want an error", tt.json, s)
				}
				return
			}
			if err != nil || s != tt.want {
				t.Fatalf("Unmarshal(%s) = %d, %v; want %d", tt.json, s, err, tt.want)
			}
			out, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back Size
			if err := json.Unmarshal(out, &back); err != nil || back != s {
				t.Errorf("round trip via %s = %d, %v; want %d", out, back, err, s)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	out, err := json.Marshal(Duration(2 * time.Minute))
	if err != nil || string(out) != `"2m0s"` {
		t.Fatalf("Marshal(2m) = %s, %v; want \"2m0s\"", out, err)
	}
	tests := []struct {
		json    string
		want    Duration
		wantErr bool
	}{
		{json: `"2s"`, want: Duration(2 * time.Second)},
		{json: `"5m"`, want: Duration(5 * time.Minute)},
		{json: `"2m0s"`, want: Duration(2 * time.Minute)},
		{json: `"-1s"`, wantErr: true},
		{json: `"5 minutes"`, wantErr: true},
		{json: `300`, wantErr: true}, // no unit: ambiguous
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tt.json), &d)
			if tt.wantErr != (err != nil) || d != tt.want {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v (error %v)", tt.json, d, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

// configStep is one Set (value != "") or Get (value == "") in a sequence.
type configStep struct {
	key, value string
	want       string // Get result after the step
	wantErr    error
}

func TestConfigGetSet(t *testing.T) {
	tests := []struct {
		name  string
		steps []configStep
	}{
		{"default size reads back in its unit", []configStep{
			{key: "Storage.Max", want: "100GB"},
		}},
		{"set size", []configStep{
			{key: "Storage.Max", value: "2TiB", want: "2TiB"},
			{key: "Storage.Max", value: "1500MB", want: "1500MB"},
		}},
		{"set duration", []configStep{
			{key: "Replication.GraceDelay", value: "2s", want: "2s"},
			{key: "Replication.Interval", value: "90s", want: "1m30s"},
		}},
		{"quorum above factor is refused", []configStep{
			{key: "Replication.Factor", value: "5", want: "5"},
			{key: "Replication.WriteQuorum", value: "6", wantErr: ErrBadValue, want: "2"},
			{key: "Replication.WriteQuorum", value: "5", want: "5"},
		}},
		{"swarm addresses from a JSON array", []configStep{
			{key: "Addresses.Swarm", value: `["/ip4/0.0.0.0/tcp/4001"]`, want: "[\n  \"/ip4/0.0.0.0/tcp/4001\"\n]"},
			{key: "Addresses.Swarm", value: `/ip4/0.0.0.0/tcp/4001`, wantErr: ErrBadValue, want: "[\n  \"/ip4/0.0.0.0/tcp/4001\"\n]"},
		}},
		{"empty bootstrap reads as []", []configStep{
			{key: "Bootstrap", want: "[]"},
			{key: "Bootstrap", value: "null", want: "[]"},
		}},
		{"string set raw and read bare", []configStep{
			{key: "Addresses.Gateway", value: "0.0.0.0:9090", want: "0.0.0.0:9090"},
			{key: "Addresses.Gateway", value: "nonsense", wantErr: ErrBadValue, want: "0.0.0.0:9090"},
		}},
		{"whole object merges over current value", []configStep{
			{key: "Storage", value: `{"Max": "1TB"}`, want: "{\n  \"Max\": \"1TB\",\n  \"SegmentSize\": \"256MiB\",\n  \"ScrubInterval\": \"24h0m0s\",\n  \"ScrubRate\": \"20MB\",\n  \"KeepWrittenCache\": false,\n  \"WrittenCache\": \"1GiB\"\n}"},
			{key: "Storage", value: `{"Nope": 1}`, wantErr: ErrBadValue, want: "{\n  \"Max\": \"1TB\",\n  \"SegmentSize\": \"256MiB\",\n  \"ScrubInterval\": \"24h0m0s\",\n  \"ScrubRate\": \"20MB\",\n  \"KeepWrittenCache\": false,\n  \"WrittenCache\": \"1GiB\"\n}"},
		}},
		{"unknown keys", []configStep{
			{key: "Storage.Nope", value: "1", wantErr: ErrUnknownKey},
			{key: "storage.max", value: "1GB", wantErr: ErrUnknownKey}, // case-sensitive, like kubo
			{key: "Storage.Max.Deeper", value: "1GB", wantErr: ErrUnknownKey},
			{key: "Storage..Max", value: "1GB", wantErr: ErrUnknownKey},
			{key: "Storage.Nope", wantErr: ErrUnknownKey},
			{key: "", wantErr: ErrUnknownKey},
		}},
		{"malformed values", []configStep{
			{key: "Replication.GraceDelay", value: "5 minutes", wantErr: ErrBadValue, want: "2m0s"},
			{key: "Replication.GraceDelay", value: "-5m", wantErr: ErrBadValue, want: "2m0s"},
			{key: "Replication.GraceDelay", value: "0s", wantErr: ErrBadValue, want: "2m0s"},
			{key: "Replication.Factor", value: "three", wantErr: ErrBadValue, want: "3"},
			{key: "Replication.Factor", value: "0", wantErr: ErrBadValue, want: "3"},
			{key: "Storage.SegmentSize", value: "512KiB", wantErr: ErrBadValue, want: "256MiB"},
			{key: "Storage.SegmentSize", value: "5GiB", wantErr: ErrBadValue, want: "256MiB"},
			{key: "Storage.Max", value: "10XB", wantErr: ErrBadValue, want: "100GB"},
		}},
		{"identity is read-only", []configStep{
			{key: "Identity.PeerID", value: "12D3KooWxyz", wantErr: ErrBadValue},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			for _, s := range tt.steps {
				var err error
				if s.value != "" {
					err = c.Set(s.key, s.value)
				} else {
					_, err = c.Get(s.key)
				}
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
					t.Fatalf("%s %q: err = %v, want %v", s.key, s.value, err, s.wantErr)
				}
				if s.want == "" {
					continue
				}
				if got, err := c.Get(s.key); err != nil || got != s.want {
					t.Fatalf("after %s %q: Get = %q, %v; want %q", s.key, s.value, got, err, s.want)
				}
			}
		})
	}
}

func TestConfigSetFailureLeavesConfigUnchanged(t *testing.T) {
	c := DefaultConfig()
	before, _ := json.Marshal(c)
	for _, kv := range [][2]string{
		{"Replication", `{"Factor": 1}`}, // valid JSON, but quorum 2 > factor 1
		{"Addresses.Swarm", `["/ok", "bad"]`},
		{"Storage.Max", "1KiB"}, // smaller than one segment
	} {
		if err := c.Set(kv[0], kv[1]); !errors.Is(err, ErrBadValue) {
			t.Errorf("Set(%s, %s) = %v, want ErrBadValue", kv[0], kv[1], err)
		}
	}
	if after, _ := json.Marshal(c); string(after) != string(before) {
		t.Errorf("failed Set changed config:\nbefore %s\nafter  %s", before, after)
	}
}

func TestSetConfigValue(t *testing.T) {
	tests := []struct {
		name, key, value string
		wantErr          error
	}{
		{"valid value is persisted", "Storage.Max", "1TB", nil},
		{"malformed duration", "Replication.GraceDelay", "5 minutes", ErrBadValue},
		{"quorum above factor", "Replication.WriteQuorum", "6", ErrBadValue},
		{"unknown key", "Storage.Nope", "1", ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := initRepo(t)
			name := filepath.Join(path, configFile)
			before, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}

			cfg, err := SetConfigValue(path, tt.key, tt.value)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("SetConfigValue: err = %v, want %v", err, tt.wantErr)
			}
			after, _ := os.ReadFile(name)
			if tt.wantErr != nil {
				if string(after) != string(before) {
					t.Errorf("config changed on error:\n%s", after)
				}
				return
			}
			loaded, err := LoadConfig(path)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			for _, c := range []*Config{cfg, loaded} {
				if got, _ := c.Get(tt.key); got != tt.value {
					t.Errorf("%s = %q, want %q", tt.key, got, tt.value)
				}
			}
			if info, _ := os.Stat(name); info.Mode().Perm() != 0o644 {
				t.Errorf("config mode = %o, want 644", info.Mode().Perm())
			}
		})
	}
}

func TestSetConfigValueRefusesOtherVersions(t *testing.T) {
	path := initRepo(t)
	writeFile(t, path, versionFile, "3\n")
	if _, err := SetConfigValue(path, "Storage.Max", "1TB"); !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr error
		check   func(t *testing.T, c *Config)
	}{
		{name: "missing fields take defaults", content: `{"Storage": {"Max": 5000000000}}`, check: func(t *testing.T, c *Config) {
			if c.Storage.Max != 5*GB || c.Storage.SegmentSize != 256*MiB || c.Replication.Factor != 3 {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "unknown field is a typo", content: `{"Replicaton": {}}`, wantErr: ErrBadValue},
		{name: "invalid value", content: `{"Replication": {"Factor": 0}}`, wantErr: ErrBadValue},
		{name: "not JSON", content: `Storage.Max = 1`, wantErr: ErrBadValue},
		{name: "trailing data", content: `{} {}`, wantErr: ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := initRepo(t)
			writeFile(t, path, configFile, tt.content)
			c, err := LoadConfig(path)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("LoadConfig: err = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
