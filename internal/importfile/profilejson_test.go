package importfile

import (
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestProfileJSONLines(t *testing.T) {
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	tests := map[string]struct {
		line    string
		wantErr string // "" for a valid line
	}{
		// Valid lines: the vendor's examples first.
		"vendor assign":     {line: `{"customer_id":"abc","changes":[{"op":"assign","attr":"example1","value":"value1"}]}`},
		"vendor set-add":    {line: `{"customer_id":"123","changes":[{"op":"set-add","attr":"example2","value":["value1", "value2"]}]}`},
		"vendor set-remove": {line: `{"customer_id":"zxc","changes":[{"op":"set-remove","attr":"example3","value":["value1", "value2"]}]}`},
		"vendor increment":  {line: `{"customer_id":"abc","changes":[{"op":"increment","attr":"foo","value":1}]}`},
		"vendor delete":     {line: `{"customer_id":"zxc","changes":[{"op":"delete","attr":"foo"}]}`},
		"keys in any order with whitespace": {
			line: " \t{ \"changes\" : [ { \"value\" : -5 , \"attr\" : \"n\" , \"op\" : \"increment\" } ] , \"customer_id\" : \"x\" } \t",
		},
		"several changes":         {line: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":1},{"op":"delete","attr":"b"}]}`},
		"assign negative integer": {line: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":-42}]}`},
		"assign date":             {line: `{"customer_id":"a","changes":[{"op":"assign","attr":"born","value":"1990-12-31"}]}`},
		"assign empty string":     {line: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":""}]}`},
		"assign 255 characters of two bytes": {
			line: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":"` + long(255, "é") + `"}]}`,
		},
		"assign 255 characters with escapes and a surrogate pair": {
			line: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":"` + long(253, `\n`) + `\ud83d\ude00x"}]}`,
		},
		"largest integer":  {line: `{"customer_id":"a","changes":[{"op":"increment","attr":"a","value":9223372036854775807}]}`},
		"smallest integer": {line: `{"customer_id":"a","changes":[{"op":"increment","attr":"a","value":-9223372036854775808}]}`},
		"escaped key and op": {
			line: `{"customer\u005fid":"a","changes":[{"\u006fp":"incr\u0065ment","attr":"a","value":0}]}`,
		},
		"escapes in customer id": {line: `{"customer_id":"a\"b\\c\/\u00e9\t","changes":[{"op":"delete","attr":"a"}]}`},
		"set of integers":        {line: `{"customer_id":"a","changes":[{"op":"set-add","attr":"a","value":[1,-2,3]}]}`},
		"empty set":              {line: `{"customer_id":"a","changes":[{"op":"set-remove","attr":"a","value":[]}]}`},
		"value before op":        {line: `{"customer_id":"a","changes":[{"value":[1],"attr":"a","op":"set-add"}]}`},

		// Not JSON, or not the JSON object a line must be.
		"plain text": {
			line:    `hello`,
			wantErr: `line 1: invalid JSON at column 1: expected '{' (each line must be a JSON object), found 'h'`,
		},
		"array line":  {line: `[1,2]`, wantErr: `line 1: a line must be a JSON object, got array`},
		"number line": {line: `42`, wantErr: `line 1: a line must be a JSON object, got integer 42`},
		"truncated": {
			line:    `{"customer_id":"a","changes":[`,
			wantErr: `line 1: changes[0]: invalid JSON at column 31: expected a value, found the end of the line`,
		},
		"trailing comma": {
			line:    `{"customer_id":"a",}`,
			wantErr: `line 1: invalid JSON at column 20: expected a quoted key, found '}'`,
		},
		"trailing comma in array": {
			line:    `{"customer_id":"a","changes":[{"op":"delete","attr":"a"},]}`,
			wantErr: `line 1: changes[1]: invalid JSON at column 58: expected a value, found ']'`,
		},
		"missing colon": {
			line:    `{"customer_id" "a"}`,
			wantErr: `line 1: invalid JSON at column 16: expected ':' after the key, found '"'`,
		},
		"single quotes": {
			line:    `{'customer_id':'a'}`,
			wantErr: `line 1: invalid JSON at column 2: expected a quoted key or '}', found '\''`,
		},
		"unterminated string": {
			line:    `{"customer_id":"abc`,
			wantErr: `line 1: customer_id: invalid JSON at column 16: the string is not closed`,
		},
		"bad escape": {
			line:    `{"customer_id":"a\x"}`,
			wantErr: `line 1: customer_id: invalid JSON at column 18: invalid escape in a string: a backslash must be followed by one of " \ / b f n r t or uXXXX`,
		},
		"short unicode escape": {
			line:    `{"customer_id":"a\u12"}`,
			wantErr: `line 1: customer_id: invalid JSON at column 18: invalid escape in a string: a backslash must be followed by one of " \ / b f n r t or uXXXX`,
		},
		"raw tab in string": {
			line:    "{\"customer_id\":\"a\tb\"}",
			wantErr: `line 1: customer_id: invalid JSON at column 18: a control character inside a string must be escaped (write \n, \t or \u00XX)`,
		},
		"text after the object": {
			line:    `{"customer_id":"a","changes":[{"op":"delete","attr":"a"}]} x`,
			wantErr: `line 1: invalid JSON at column 60: unexpected text after the end of the object`,
		},
		"two objects": {
			line:    `{"customer_id":"a","changes":[{"op":"delete","attr":"a"}]}{}`,
			wantErr: `line 1: invalid JSON at column 59: unexpected text after the end of the object`,
		},
		"leading zero": {
			line:    `{"customer_id":"a","changes":[{"op":"increment","attr":"a","value":01}]}`,
			wantErr: `line 1: changes[0]: invalid JSON at column 69: expected ',' or '}', found '1'`,
		},
		"number without digits after the point": {
			line:    `{"customer_id":"a","changes":[{"op":"increment","attr":"a","value":1.}]}`,
			wantErr: `line 1: changes[0].value: invalid JSON at column 68: malformed number "1."`,
		},
		"misspelt literal": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":tru}]}`,
			wantErr: `line 1: changes[0].value: invalid JSON at column 65: expected true, false or null`,
		},
		"not UTF-8": {
			line:    "{\"customer_id\":\"é\xff\"}",
			wantErr: `line 1: the text is not valid UTF-8 at column 18; save the file as UTF-8`,
		},

		// Valid JSON of the wrong shape.
		"customer id a number": {
			line:    `{"customer_id":42,"changes":[{"op":"delete","attr":"a"}]}`,
			wantErr: `line 1: customer_id: must be a string, got integer 42`,
		},
		"customer id empty": {
			line:    `{"customer_id":"","changes":[{"op":"delete","attr":"a"}]}`,
			wantErr: `line 1: customer_id: must not be empty`,
		},
		"customer id missing": {
			line:    `{"changes":[{"op":"delete","attr":"a"}]}`,
			wantErr: `line 1: missing "customer_id"`,
		},
		"changes missing":     {line: `{"customer_id":"a"}`, wantErr: `line 1: missing "changes"`},
		"changes empty":       {line: `{"customer_id":"a","changes":[]}`, wantErr: `line 1: changes: must hold at least one change`},
		"changes not a list":  {line: `{"customer_id":"a","changes":{}}`, wantErr: `line 1: changes: must be an array of changes, got object`},
		"change not a object": {line: `{"customer_id":"a","changes":["x"]}`, wantErr: `line 1: changes[0]: must be an object like {"op": "assign", "attr": "name", "value": "Ada"}, got string`},
		"unknown key": {
			line:    `{"customer_id":"a","change":[]}`,
			wantErr: `line 1: unknown key "change"; expected "customer_id" and "changes"`,
		},
		"unknown key with escapes, shown decoded": {
			line: `{"customer_id":"a","a\b\f\n\r\t\/\\\"\u00E9\ud83d\ude00\ud800":1}`,
			wantErr: "line 1: unknown key " + strconv.Quote("a\b\f\n\r\t/\\\"é😀\uFFFD") +
				`; expected "customer_id" and "changes"`,
		},
		"long text from the file is clipped in messages": {
			line:    `{"customer_id":"a","` + long(100, "k") + `":1}`,
			wantErr: `line 1: unknown key "` + long(64, "k") + `…"; expected "customer_id" and "changes"`,
		},
		"unknown key in a change": {
			line:    `{"customer_id":"a","changes":[{"op":"set-add","attr":"a","values":[]}]}`,
			wantErr: `line 1: changes[0]: unknown key "values"; expected "op", "attr" and "value"`,
		},
		"duplicate key": {
			line:    `{"customer_id":"a","customer_id":"b","changes":[{"op":"delete","attr":"a"}]}`,
			wantErr: `line 1: key "customer_id" appears twice`,
		},
		"duplicate key in a change": {
			line:    `{"customer_id":"a","changes":[{"op":"delete","op":"delete","attr":"a"}]}`,
			wantErr: `line 1: changes[0]: key "op" appears twice`,
		},
		"unknown op": {
			line:    `{"customer_id":"a","changes":[{"op":"add","attr":"a","value":1}]}`,
			wantErr: `line 1: changes[0].op: unknown op "add"; use assign, increment, set-add, set-remove or delete`,
		},
		"op in capitals": {
			line:    `{"customer_id":"a","changes":[{"op":"Assign","attr":"a","value":1}]}`,
			wantErr: `line 1: changes[0].op: unknown op "Assign"; use assign, increment, set-add, set-remove or delete`,
		},
		"op not a string": {
			line:    `{"customer_id":"a","changes":[{"op":null,"attr":"a"}]}`,
			wantErr: `line 1: changes[0].op: must be a string, got null`,
		},
		"op missing":   {line: `{"customer_id":"a","changes":[{"attr":"a","value":1}]}`, wantErr: `line 1: changes[0]: missing "op"`},
		"attr missing": {line: `{"customer_id":"a","changes":[{"op":"assign","value":1}]}`, wantErr: `line 1: changes[0]: missing "attr"`},
		"attr empty":   {line: `{"customer_id":"a","changes":[{"op":"delete","attr":""}]}`, wantErr: `line 1: changes[0].attr: must not be empty`},
		"value missing": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a"}]}`,
			wantErr: `line 1: changes[0]: missing "value"`,
		},
		"increment of a string": {
			line:    `{"customer_id":"a","changes":[{"op":"delete","attr":"a"},{"op":"increment","attr":"n","value":"5"}]}`,
			wantErr: `line 1: changes[1].value: increment needs an integer, got string`,
		},
		"increment of a decimal": {
			line:    `{"customer_id":"a","changes":[{"op":"increment","attr":"n","value":1.5}]}`,
			wantErr: `line 1: changes[0].value: increment needs an integer, got 1.5`,
		},
		"increment with an exponent": {
			line:    `{"customer_id":"a","changes":[{"op":"increment","attr":"n","value":1e3}]}`,
			wantErr: `line 1: changes[0].value: increment needs an integer, got 1e3`,
		},
		"increment out of range": {
			line:    `{"customer_id":"a","changes":[{"op":"increment","attr":"n","value":9223372036854775808}]}`,
			wantErr: `line 1: changes[0].value: integer 9223372036854775808 does not fit in 64 bits`,
		},
		"assign a boolean": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":true}]}`,
			wantErr: `line 1: changes[0].value: assign needs a string, an integer or a date (YYYY-MM-DD), got true`,
		},
		"assign null": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":null}]}`,
			wantErr: `line 1: changes[0].value: assign needs a string, an integer or a date (YYYY-MM-DD), got null`,
		},
		"assign an object": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":{"x":1}}]}`,
			wantErr: `line 1: changes[0].value: assign needs a string, an integer or a date (YYYY-MM-DD), got object`,
		},
		"assign an array": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":["x"]}]}`,
			wantErr: `line 1: changes[0].value: assign needs a string, an integer or a date (YYYY-MM-DD), got array`,
		},
		"assign 256 characters": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":"` + long(256, "é") + `"}]}`,
			wantErr: `line 1: changes[0].value: the value is 256 characters long; the limit is 255`,
		},
		"assign 256 characters with escapes": {
			line:    `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":"` + long(256, `\u00e9`) + `"}]}`,
			wantErr: `line 1: changes[0].value: the value is 256 characters long; the limit is 255`,
		},
		"set-add of a string": {
			line:    `{"customer_id":"a","changes":[{"op":"set-add","attr":"a","value":"x"}]}`,
			wantErr: `line 1: changes[0].value: set-add needs an array of strings or integers, got string`,
		},
		"set of strings and integers": {
			line:    `{"customer_id":"a","changes":[{"op":"set-add","attr":"a","value":["x",1]}]}`,
			wantErr: `line 1: changes[0].value[1]: set-add needs all strings or all integers, not both`,
		},
		"set with a decimal": {
			line:    `{"customer_id":"a","changes":[{"op":"set-remove","attr":"a","value":[1.5]}]}`,
			wantErr: `line 1: changes[0].value[0]: array elements must be strings or integers, got 1.5`,
		},
		"set with a nested array": {
			line:    `{"customer_id":"a","changes":[{"op":"set-add","attr":"a","value":[1,[2]]}]}`,
			wantErr: `line 1: changes[0].value[1]: array elements must be strings or integers, got array`,
		},
		"set with a long string": {
			line:    `{"customer_id":"a","changes":[{"op":"set-add","attr":"a","value":["` + long(300, "x") + `"]}]}`,
			wantErr: `line 1: changes[0].value[0]: the value is 300 characters long; the limit is 255`,
		},
		"delete with a value": {
			line:    `{"customer_id":"a","changes":[{"op":"delete","attr":"a","value":1}]}`,
			wantErr: `line 1: changes[0].value: delete takes no value; remove "value"`,
		},
		"delete with a value before the op": {
			line:    `{"customer_id":"a","changes":[{"value":1,"attr":"a","op":"delete"}]}`,
			wantErr: `line 1: changes[0].value: delete takes no value; remove "value"`,
		},
		"string value before an increment op": {
			line:    `{"customer_id":"a","changes":[{"value":"x","op":"increment","attr":"a"}]}`,
			wantErr: `line 1: changes[0].value: increment needs an integer, got string`,
		},
		"object value before the op": {
			line:    `{"customer_id":"a","changes":[{"value":{},"op":"assign","attr":"a"}]}`,
			wantErr: `line 1: changes[0].value: must be a string, an integer or an array of strings or integers, got object`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(firstError(t, FormatProfileJSON, tc.line)).To(Equal(tc.wantErr))
			// The reference implementation must agree on the decision.
			ref := refValidate([]byte(tc.line), FormatProfileJSON)
			if tc.wantErr == "" {
				g.Expect(ref.InvalidLines).To(BeZero(), "the reference rejects the line")
			} else {
				g.Expect(ref.InvalidLines).To(BeEquivalentTo(1), "the reference accepts the line")
			}
		})
	}
}

func TestProfileJSONIncrementDetected(t *testing.T) {
	tests := map[string]struct {
		input string
		want  bool
	}{
		"only idempotent changes": {
			input: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":1},{"op":"set-add","attr":"s","value":[1]}]}` + "\n",
			want:  false,
		},
		"an increment among other changes": {
			input: `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":1}]}` + "\n" +
				`{"customer_id":"b","changes":[{"op":"delete","attr":"a"},{"op":"increment","attr":"n","value":-1}]}` + "\n",
			want: true,
		},
		"an increment only in an invalid line, which is never uploaded": {
			input: `{"customer_id":"","changes":[{"op":"increment","attr":"n","value":1}]}` + "\n",
			want:  false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(validate(t, FormatProfileJSON, tc.input).HasIncrement).To(Equal(tc.want))
			_, rep, err := readAll(tc.input, FormatProfileJSON, SkipInvalid)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rep.HasIncrement).To(Equal(tc.want))
		})
	}
}
