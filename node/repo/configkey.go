package repo

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Config keys are dotted paths of JSON field names, as in kubo: "Storage",
// "Storage.Max", "Addresses.Swarm". They are resolved by reflection over the
// Config struct so that a new field is addressable without touching this
// file.

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[Duration]()
)

// readOnlyKeys are top-level keys Set refuses: Identity is derived from
// identity.key, and letting it drift would make the node lie about itself.
var readOnlyKeys = map[string]string{
	"Identity": "it is derived from identity.key",
}

// Get returns the value at the dotted key in the form kubo's `ipfs config
// KEY` prints it: a value that encodes as a JSON string (plain strings,
// sizes, durations) bare and unquoted, anything else (numbers, lists,
// objects) as indented JSON. There is no trailing newline. Keys are matched
// exactly, case included; a key that names no field yields ErrUnknownKey.
func (c *Config) Get(key string) (string, error) {
	v, err := lookupKey(reflect.ValueOf(c).Elem(), key)
	if err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(v.Interface(), "", "  ")
	if err != nil {
		return "", newError(ErrBadValue, err, "config: encode %s: %v", key, err)
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err == nil {
			return s, nil
		}
	}
	return string(data), nil
}

// Set parses value according to the type of the field at the dotted key and
// stores it, then validates the whole config. On any error c is unchanged.
//
// Values are parsed as: strings raw (no quoting); integers as decimal;
// booleans as true or false; sizes with ParseSize ("100GB", "1.5GiB",
// "1048576"); durations with ParseDuration ("2s", "5m"); lists as a JSON
// array (["/ip4/..."]). An object key such as "Storage" takes a JSON object
// decoded over the current value: fields the object omits keep their value,
// fields it does not know are an error.
func (c *Config) Set(key, value string) error {
	first, _, _ := strings.Cut(key, ".")
	if why, ok := readOnlyKeys[first]; ok {
		return badValue("%s cannot be set: %s", key, why)
	}
	// Work on a copy so a parse or validation failure leaves c untouched.
	cp, err := c.clone()
	if err != nil {
		return err
	}
	v, err := lookupKey(reflect.ValueOf(cp).Elem(), key)
	if err != nil {
		return err
	}
	if err := setValue(v, key, value); err != nil {
		return err
	}
	cp.normalize()
	if err := cp.Validate(); err != nil {
		return err
	}
	*c = *cp
	return nil
}

// lookupKey walks root along the dotted key, matching each segment against
// JSON field names.
func lookupKey(root reflect.Value, key string) (reflect.Value, error) {
	if key == "" {
		return reflect.Value{}, newError(ErrUnknownKey, nil, "config: empty key (want e.g. \"Storage.Max\")")
	}
	v := root
	segs := strings.Split(key, ".")
	for i, seg := range segs {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, newError(ErrUnknownKey, nil,
				"config: unknown key %q: %s is not an object", key, strings.Join(segs[:i], "."))
		}
		f, ok := fieldByJSONName(v, seg)
		if !ok {
			return reflect.Value{}, newError(ErrUnknownKey, nil, "config: unknown key %q", key)
		}
		v = f
	}
	return v, nil
}

// fieldByJSONName returns the exported field of struct v whose JSON name is
// name, honouring `json:"name"` and `json:"-"` tags.
func fieldByJSONName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		jsonName := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			tagName, _, _ := strings.Cut(tag, ",")
			if tagName == "-" {
				continue
			}
			if tagName != "" {
				jsonName = tagName
			}
		}
		if jsonName == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// setValue parses value into the settable v, the field at key.
func setValue(v reflect.Value, key, value string) error {
	switch v.Type() {
	case sizeType:
		s, err := ParseSize(unquote(value))
		if err != nil {
			return badValue("%s: %v", key, trimSentinel(err))
		}
		v.Set(reflect.ValueOf(s))
		return nil
	case durationType:
		d, err := ParseDuration(unquote(value))
		if err != nil {
			return badValue("%s: %v", key, trimSentinel(err))
		}
		v.Set(reflect.ValueOf(d))
		return nil
	}

	switch v.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, v.Type().Bits())
		if err != nil {
			return badValue("%s: %q is not a whole number", key, value)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, v.Type().Bits())
		if err != nil {
			return badValue("%s: %q is not a non-negative whole number", key, value)
		}
		v.SetUint(n)
	case reflect.Bool:
		switch strings.TrimSpace(value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return badValue("%s: %q is not true or false", key, value)
		}
	case reflect.Slice:
		// Decode into a fresh value: a list is replaced, never merged.
		p := reflect.New(v.Type())
		if err := decodeStrict([]byte(value), p.Interface()); err != nil {
			return badValue("%s: want a JSON array such as [\"/ip4/127.0.0.1/tcp/4001\"]: %v", key, trimSentinel(err))
		}
		v.Set(p.Elem())
	default:
		// Objects (and anything else JSON can hold) decode over the
		// current value, so omitted fields are kept.
		if err := decodeStrict([]byte(value), v.Addr().Interface()); err != nil {
			return badValue("%s: want a JSON %s: %v", key, jsonKind(v.Kind()), trimSentinel(err))
		}
	}
	return nil
}

// unquote strips JSON string quotes, so that `"100GB"` is accepted wherever
// 100GB is (scripts that pipe Get output of another tool tend to quote).
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' {
		var out string
		if json.Unmarshal([]byte(s), &out) == nil {
			return out
		}
	}
	return s
}

// trimSentinel drops the "config: malformed value: " prefix of a nested
// ErrBadValue message so it is not repeated when wrapped again.
func trimSentinel(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadValue.Error()+": ")
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "value"
	}
}
