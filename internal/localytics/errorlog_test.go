package localytics

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// The error log gives the lines that failed, read without credentials, and
// only from where the API itself sends them.
func TestFailedLines(t *testing.T) {
	var sawAuth bool
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = r.Header.Get("Authorization") != ""
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"line":7,"customer_id":"c","error":"x"},{"line":2,"error":"y"},{"line":7},{"line":0},{"other":1}]`))
	}))
	lines, truncated, err := c.FailedLines(context.Background(), c.base.String()+"/_sim/errors/a.json")
	if err != nil {
		t.Fatalf("FailedLines: %v", err)
	}
	if want := []int64{2, 7}; !reflect.DeepEqual(lines, want) || truncated {
		t.Errorf("lines %v (truncated %v), want %v", lines, truncated, want)
	}
	if sawAuth {
		t.Error("the error log was asked for with the API's credentials")
	}

	for _, refused := range []string{
		"http://elsewhere.example/log.json",    // plain http on another host
		"file:///etc/passwd",                   // not http at all
		"https://user:pw@example.com/log.json", // credentials in the URL
		"",                                     // no error log
	} {
		if _, _, err := c.FailedLines(context.Background(), refused); !errors.Is(err, ErrErrorLogNotAllowed) {
			t.Errorf("%s: error %v, want ErrErrorLogNotAllowed", refused, err)
		}
	}
}

func TestDecodeFailedLines(t *testing.T) {
	for name, body := range map[string]string{
		"not an array":    `{"line":1}`,
		"a broken entry":  `[{"line":1},{"line":`,
		"a line a string": `[{"line":"1"}]`,
	} {
		if _, _, err := decodeFailedLines(strings.NewReader(body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	lines, _, err := decodeFailedLines(strings.NewReader(`[]`))
	if err != nil || len(lines) != 0 {
		t.Errorf("an empty log: %v, %v", lines, err)
	}
	// A log longer than the cap gives the lines before the cut.
	huge := `[{"line":3},` + strings.Repeat(`{"line":1,"error":"`+strings.Repeat("x", 1<<20)+`"},`, maxErrorLogBytes>>20) + `{"line":9}]`
	lines, truncated, err := decodeFailedLines(strings.NewReader(huge))
	if err != nil || !truncated || len(lines) == 0 || lines[len(lines)-1] == 9 {
		t.Errorf("a log over the cap: %d lines, truncated %v, error %v; want the lines before the cut, truncated", len(lines), truncated, err)
	}
	for name, body := range map[string]string{"not an array": `{}`, "broken": `[{"line":`} {
		if _, _, err := decodeFailedLines(strings.NewReader(body)); !errors.Is(err, ErrErrorLogUnreadable) {
			t.Errorf("%s: error %v, want ErrErrorLogUnreadable", name, err)
		}
	}
}

// A refused error log is final, a failing one is tried again.
func TestFailedLinesAnswers(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/expired":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	if _, _, err := c.FailedLines(context.Background(), c.base.String()+"/expired"); !errors.Is(err, ErrErrorLogUnreadable) {
		t.Errorf("403: error %v, want ErrErrorLogUnreadable", err)
	}
	var netErr *NetworkError
	if _, _, err := c.FailedLines(context.Background(), c.base.String()+"/busy"); !errors.As(err, &netErr) {
		t.Errorf("503: error %v, want a *NetworkError", err)
	}
}
