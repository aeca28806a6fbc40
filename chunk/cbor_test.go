package chunk

import (
	"bytes"
	"errors"
	"testing"
)

func TestCheckCBOR(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"zero", []byte{0x00}, true},
		{"negative uint64", []byte{0x3b, 1, 2, 3, 4, 5, 6, 7, 8}, true},
		{"null", []byte{0xf6}, true},
		{"undefined", []byte{0xf7}, true},
		{"simple 32", []byte{0xf8, 0x20}, true},
		{"float64", []byte{0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, true},
		{"tag 1 timestamp", []byte{0xc1, 0x1a, 0x5f, 0, 0, 0}, true},
		{"indefinite array", []byte{0x9f, 0x01, 0x02, 0xff}, true},
		{"indefinite map", []byte{0xbf, 0x61, 'a', 0x01, 0xff}, true},
		{"indefinite bytes", []byte{0x5f, 0x41, 0x01, 0x42, 0x02, 0x03, 0xff}, true},
		{"map", []byte{0xa1, 0x61, 'a', 0x80}, true},
		{"empty", nil, false},
		{"reserved", []byte{0x1c}, false},
		{"lone break", []byte{0xff}, false},
		{"two items", []byte{0x00, 0x00}, false},
		{"huge array", []byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, false},
		{"huge map", []byte{0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00}, false},
		{"string past the end", []byte{0x62, 'a'}, false},
		{"text chunk in bytes", []byte{0x5f, 0x61, 'a', 0xff}, false},
		{"nested indefinite chunk", []byte{0x5f, 0x5f, 0xff, 0xff}, false},
		{"map key without value", []byte{0xbf, 0x01, 0xff}, false},
		{"two-byte simple below 32", []byte{0xf8, 0x10}, false},
		{"unterminated", []byte{0x9f, 0x01}, false},
		{"indefinite integer", []byte{0x1f}, false},
		{"indefinite tag", []byte{0xdf, 0x00}, false},
		{"truncated argument", []byte{0x19, 0x01}, false},
		{"too deep", append(bytes.Repeat([]byte{0x81}, maxCBORDepth+1), 0x00), false},
	}
	for _, tt := range tests {
		err := checkCBOR(tt.data)
		if tt.ok && err != nil {
			t.Errorf("%s: checkCBOR = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrBadNode) {
			t.Errorf("%s: checkCBOR = %v, want ErrBadNode", tt.name, err)
		}
	}
}
