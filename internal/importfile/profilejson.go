package importfile

// The rules for one line of a profile file (format json) and of an audience
// file (format jsonl). Each line is one JSON object. Keys may come in any
// order; unknown keys and duplicate keys are rejected, because the vendor does
// not document what it does with them and a typo ("change") is better caught
// here than after spending an upload.

// opKind is a change's "op".
type opKind uint8

const (
	opNone opKind = iota // not read (yet)
	opAssign
	opIncrement
	opSetAdd
	opSetRemove
	opDelete
)

func (o opKind) String() string {
	return [...]string{"", "assign", "increment", "set-add", "set-remove", "delete"}[o]
}

func (o opKind) isSet() bool { return o == opSetAdd || o == opSetRemove }

// wants says which value an op that takes one needs, as docs/localytics-api.md gives it.
func (o opKind) wants() string {
	switch o {
	case opAssign:
		return "a string, an integer or a date (YYYY-MM-DD)"
	case opIncrement:
		return "an integer"
	}
	return "an array of strings or integers"
}

// The keys of the JSON formats, which also name the paths in messages.
const (
	keyCustomerID = "customer_id"
	keyChanges    = "changes"
	keyOp         = "op"
	keyAttr       = "attr"
	keyValue      = "value"
)

var (
	profileKeys  = []string{keyCustomerID, keyChanges}
	changeKeys   = []string{keyOp, keyAttr, keyValue}
	audienceKeys = []string{keyCustomerID}
)

const (
	profileKeysHint  = `"customer_id" and "changes"`
	changeKeysHint   = `"op", "attr" and "value"`
	audienceKeysHint = `only "customer_id"`
)

// valueShape remembers a change's value until its op is known: keys may come in
// any order, so "value" can precede "op".
type valueShape struct {
	kind    valueKind
	text    []byte // a scalar's text: raw string content, number or literal
	escaped bool
}

// profileLine checks one line of a profile file. increment reports an
// "increment" change, the one change that must not be applied twice.
func (c *cursor) profileLine() (increment, ok bool) {
	more, ok := c.openTop()
	var seen [2]bool
	for ok && more {
		var k int
		if k, ok = c.memberKey(profileKeys, profileKeysHint); !ok {
			break
		}
		if seen[k] {
			return false, c.duplicate(profileKeys[k])
		}
		seen[k] = true
		c.key = profileKeys[k]
		if k == 0 {
			ok = c.nonEmptyString()
		} else {
			increment, ok = c.checkChanges()
		}
		c.key = ""
		if ok {
			more, ok = c.nextMember()
		}
	}
	switch {
	case !ok || !c.end():
		return false, false
	case !seen[0]:
		return false, c.missing(keyCustomerID)
	case !seen[1]:
		return false, c.missing(keyChanges)
	}
	return increment, true
}

// audienceLine checks one line of an audience file.
func (c *cursor) audienceLine() bool {
	more, ok := c.openTop()
	seen := false
	for ok && more {
		if _, ok = c.memberKey(audienceKeys, audienceKeysHint); !ok {
			break
		}
		if seen {
			return c.duplicate(audienceKeys[0])
		}
		seen = true
		c.key = audienceKeys[0]
		ok = c.nonEmptyString()
		c.key = ""
		if ok {
			more, ok = c.nextMember()
		}
	}
	switch {
	case !ok || !c.end():
		return false
	case !seen:
		return c.missing(keyCustomerID)
	}
	return true
}

// openTop opens the object that a line must be.
func (c *cursor) openTop() (more, ok bool) {
	c.ws()
	switch kindAt(c.peek()) {
	case kindObject:
		return c.openObject()
	case kindNone:
		return false, c.syntax("'{' (each line must be a JSON object)")
	}
	return false, c.wrongType(faultNotObject, "", opNone)
}

// end checks that nothing but whitespace follows the line's object.
func (c *cursor) end() bool {
	c.ws()
	if c.i < len(c.b) {
		c.fail(faultTrailing)
		return false
	}
	return true
}

func (c *cursor) missing(key string) bool {
	c.fail(faultMissingKey).hint = key
	return false
}

// nonEmptyString checks a customer id or an attribute name.
func (c *cursor) nonEmptyString() bool {
	if c.peek() != '"' {
		return c.wrongType(faultWrongType, "a string", opNone)
	}
	s, _, ok := c.str()
	if ok && len(s) == 0 { // any escape decodes to at least one character
		c.fail(faultMessage).hint = "must not be empty"
		return false
	}
	return ok
}

// checkChanges checks the "changes" array.
func (c *cursor) checkChanges() (increment, ok bool) {
	if c.peek() != '[' {
		return false, c.wrongType(faultWrongType, "an array of changes", opNone)
	}
	c.i++
	c.ws()
	if c.peek() == ']' {
		c.fail(faultMessage).hint = "must hold at least one change"
		return false, false
	}
	for j := 0; ; j++ {
		op, ok := c.checkChange(j)
		if !ok {
			return false, false
		}
		increment = increment || op == opIncrement
		more, ok := c.nextElement()
		if !ok || !more {
			return increment, ok
		}
	}
}

// checkChange checks changes[j].
func (c *cursor) checkChange(j int) (op opKind, ok bool) {
	c.change, c.key = j, ""
	if c.peek() != '{' {
		return opNone, c.wrongType(faultWrongType, `an object like {"op": "assign", "attr": "name", "value": "Ada"}`, opNone)
	}
	var seen [3]bool
	var v valueShape
	more, ok := c.openObject()
	for ok && more {
		var k int
		if k, ok = c.memberKey(changeKeys, changeKeysHint); !ok {
			break
		}
		if seen[k] {
			return opNone, c.duplicate(changeKeys[k])
		}
		seen[k] = true
		c.key = changeKeys[k]
		switch k {
		case 0:
			op, ok = c.op()
		case 1:
			ok = c.nonEmptyString()
		case 2:
			ok = c.value(op, &v)
		}
		c.key = ""
		if ok {
			more, ok = c.nextMember()
		}
	}
	switch {
	case !ok:
	case !seen[0]:
		ok = c.missing(keyOp)
	case !seen[1]:
		ok = c.missing(keyAttr)
	case op == opDelete && seen[2]:
		c.key = keyValue
		ok = c.noValue()
	case op != opDelete && !seen[2]:
		ok = c.missing(keyValue)
	case op != opDelete:
		c.key = keyValue
		ok = c.checkValue(op, &v)
	}
	c.change, c.key = -1, keyChanges
	return op, ok
}

func (c *cursor) noValue() bool {
	c.fail(faultMessage).hint = `delete takes no value; remove "value"`
	return false
}

// op reads a change's "op".
func (c *cursor) op() (opKind, bool) {
	if c.peek() != '"' {
		return opNone, c.wrongType(faultWrongType, "a string", opNone)
	}
	start := c.i
	s, escaped, ok := c.str()
	if !ok {
		return opNone, false
	}
	if escaped {
		c.scratch = appendUnescaped(c.scratch[:0], s)
		s = c.scratch
	}
	switch string(s) {
	case "assign":
		return opAssign, true
	case "increment":
		return opIncrement, true
	case "set-add":
		return opSetAdd, true
	case "set-remove":
		return opSetRemove, true
	case "delete":
		return opDelete, true
	}
	c.i = start
	c.fail(faultUnknownOp).text = s
	return opNone, false
}

// value reads a change's "value". A scalar is only remembered: whether it
// fits depends on the op, which may come later in the object. Objects and
// nested arrays fit no op, so they are rejected at once.
func (c *cursor) value(op opKind, v *valueShape) bool {
	switch {
	case op == opDelete:
		return c.noValue()
	case c.peek() == '{':
		return c.wrongType(faultValueType, "", op)
	case c.peek() == '[':
		if op != opNone && !op.isSet() {
			return c.wrongType(faultValueType, "", op)
		}
		v.kind = kindArray
		return c.setElements(op)
	}
	var ok bool
	v.text, v.kind, v.escaped, ok = c.scalar()
	return ok
}

// setElements checks the array of a set-add or set-remove: strings or
// integers, all of one kind (a set attribute holds one type).
func (c *cursor) setElements(op opKind) bool {
	c.i++
	c.ws()
	if c.peek() == ']' {
		c.i++
		return true
	}
	first := kindNone
	for j := 0; ; j++ {
		c.elem = j
		start := c.i
		if k := kindAt(c.peek()); k == kindArray || k == kindObject {
			return c.wrongType(faultElemType, "", op)
		}
		text, kind, escaped, ok := c.scalar()
		if !ok {
			return false
		}
		switch kind {
		case kindString:
			if !c.shortEnough(text, escaped) {
				return false
			}
		case kindInt:
			if !c.fitsInt(text) {
				return false
			}
		default:
			c.i = start
			f := c.fail(faultElemType)
			f.kind, f.text, f.op = kind, text, op
			return false
		}
		if first == kindNone {
			first = kind
		} else if kind != first {
			c.i = start
			c.fail(faultMixedSet).op = op
			return false
		}
		c.elem = -1
		more, ok := c.nextElement()
		if !ok || !more {
			return ok
		}
	}
}

// checkValue checks a change's value against its op, once both are known.
func (c *cursor) checkValue(op opKind, v *valueShape) bool {
	var fits bool
	switch op {
	case opAssign:
		fits = v.kind == kindString || v.kind == kindInt
	case opIncrement:
		fits = v.kind == kindInt
	default:
		fits = v.kind == kindArray
	}
	if !fits {
		f := c.fail(faultValueType)
		f.op, f.kind, f.text = op, v.kind, v.text
		return false
	}
	switch v.kind {
	case kindString:
		return c.shortEnough(v.text, v.escaped)
	case kindInt:
		return c.fitsInt(v.text)
	}
	return true
}

func (c *cursor) shortEnough(s []byte, escaped bool) bool {
	if len(s) <= MaxValueChars {
		return true
	}
	if n := c.chars(s, escaped); n > MaxValueChars {
		c.fail(faultValueTooLong).n1 = int64(n)
		return false
	}
	return true
}

func (c *cursor) fitsInt(text []byte) bool {
	if !fitsInt64(text) {
		c.fail(faultIntRange).text = text
		return false
	}
	return true
}
