package repo

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count. In the config file it is written as a string in the
// largest unit that represents it exactly ("100GB", "256MiB") and read from
// either such a string or a plain JSON number of bytes.
type Size uint64

// Convenience constants for decimal (SI) and binary (IEC) units.
const (
	Byte Size = 1
	KB   Size = 1000 * Byte
	MB   Size = 1000 * KB
	GB   Size = 1000 * MB
	TB   Size = 1000 * GB
	PB   Size = 1000 * TB
	KiB  Size = 1 << 10
	MiB  Size = 1 << 20
	GiB  Size = 1 << 30
	TiB  Size = 1 << 40
	PiB  Size = 1 << 50
)

// sizeUnits maps every accepted unit spelling to its multiplier. Units are
// case-sensitive on purpose ("mb" vs "Mb" vs "MiB" is a classic source of
// 8x and 5% mistakes); only the common all-lowercase decimal forms are
// tolerated because they are unambiguous in practice.
var sizeUnits = map[string]Size{
	"": Byte, "B": Byte,
	"kB": KB, "KB": KB, "kb": KB,
	"MB": MB, "mb": MB,
	"GB": GB, "gb": GB,
	"TB": TB, "tb": TB,
	"PB": PB, "pb": PB,
	"KiB": KiB, "MiB": MiB, "GiB": GiB, "TiB": TiB, "PiB": PiB,
}

// printUnits lists the canonical spellings String may print, largest first.
// Where a binary and a decimal unit both divide a value, the larger unit
// wins, which gives the shorter number.
var printUnits = []struct {
	name string
	size Size
}{
	{"PiB", PiB}, {"PB", PB},
	{"TiB", TiB}, {"TB", TB},
	{"GiB", GiB}, {"GB", GB},
	{"MiB", MiB}, {"MB", MB},
	{"KiB", KiB}, {"kB", KB},
}

// sizeRE splits a size into number and unit. The number is deliberately
// restricted to plain decimal notation: no sign, exponent or hex.
var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

const sizeExamples = `e.g. "1048576", "512MiB" or "100GB"`

// ParseSize parses a byte count such as "1048576", "100GB" (10^11 bytes),
// "100GiB" (2^37 bytes) or "1.5 KiB". Fractions are rounded down to whole
// bytes. Errors wrap ErrBadValue.
func ParseSize(s string) (Size, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, badValue("size %q: empty (want a byte count, %s)", s, sizeExamples)
	}
	m := sizeRE.FindStringSubmatch(in)
	if m == nil {
		return 0, badValue("size %q: not a non-negative number with an optional unit (%s)", s, sizeExamples)
	}
	num, unitName := m[1], m[2]
	unit, ok := sizeUnits[unitName]
	if !ok {
		return 0, badValue("size %q: unknown unit %q (want B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB; %s)", s, unitName, sizeExamples)
	}
	if unit == Byte && strings.Contains(num, ".") {
		return 0, badValue("size %q: fractional number of bytes (%s)", s, sizeExamples)
	}
	// Exact rational arithmetic: float64 would misround large values and
	// fractions such as "0.1TB".
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, badValue("size %q: bad number %q (%s)", s, num, sizeExamples)
	}
	r.Mul(r, new(big.Rat).SetUint64(uint64(unit)))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // positive, so Quo rounds down
	if !n.IsUint64() {
		return 0, badValue("size %q: larger than the maximum of %d bytes (%s)", s, uint64(math.MaxUint64), sizeExamples)
	}
	return Size(n.Uint64()), nil
}

// String returns s in the largest unit that represents it exactly, or as
// plain bytes; ParseSize(s.String()) == s for every s.
func (s Size) String() string {
	if s != 0 {
		for _, u := range printUnits {
			if s%u.size == 0 {
				return strconv.FormatUint(uint64(s/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// MarshalJSON encodes s as a JSON string such as "100GB".
func (s Size) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.String())
}

// UnmarshalJSON accepts a size string ("100GB") or a JSON number of bytes.
func (s *Size) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil // json convention: null leaves the value alone
	}
	text := string(data)
	if len(data) > 0 && data[0] == '"' {
		if err := json.Unmarshal(data, &text); err != nil {
			return badValue("size %s: %v", data, err)
		}
	}
	v, err := ParseSize(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Duration is a time.Duration written in the config file as a Go duration
// string ("2m0s"). Only strings are accepted when reading: a bare number
// would leave the unit to guesswork.
type Duration time.Duration

// ParseDuration parses a Go duration string such as "2s", "5m" or "1h30m".
// Negative or unparsable durations are rejected with ErrBadValue.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, badValue("duration %q: not a duration (want e.g. \"30s\", \"5m\" or \"1h30m\")", s)
	}
	if d < 0 {
		return 0, badValue("duration %q: negative", s)
	}
	return Duration(d), nil
}

// String returns the Go duration form, e.g. "2m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON encodes d as a JSON string such as "2m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON accepts a JSON string holding a Go duration.
func (d *Duration) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return badValue("duration %s: want a string such as \"30s\" or \"5m\"", data)
	}
	v, err := ParseDuration(text)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
