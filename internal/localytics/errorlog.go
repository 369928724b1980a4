package localytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
)

const (
	// maxErrorLogBytes caps the error log read; the lines listed past it
	// count as truncated.
	maxErrorLogBytes = 64 << 20
	// MaxErrorLogLines is the most failed lines read from one error log;
	// the rest cannot be attributed to a line.
	MaxErrorLogLines = 1_000_000
)

var (
	// ErrErrorLogNotAllowed says an error log URL was not fetched: it is
	// neither https nor on the API's own scheme and host.
	ErrErrorLogNotAllowed = errors.New("the error log URL is neither https nor on the API's own scheme and host")
	// ErrErrorLogUnreadable says the error log was refused (4xx) or is not
	// a JSON array of lines: asking again would not help.
	ErrErrorLogUnreadable = errors.New("the error log cannot be read")
)

// FailedLines reads the error log of a profile job (its ErrorLogURL) and
// returns the numbers of the lines it lists, sorted, each once, at most
// MaxErrorLogLines of them and maxErrorLogBytes of log (truncated says more
// were listed). The log is a JSON array of {"line": N, ...}; anything else
// in it is ignored. A network failure or a 5xx is a *NetworkError, to try
// again; ErrErrorLogNotAllowed and ErrErrorLogUnreadable are final.
//
// The URL comes from the API's answer, so it is treated as hostile: it is
// fetched only over https, or on the API's own scheme and host (a
// simulator), without credentials, without following redirects, and within
// the call timeout.
func (c *Client) FailedLines(ctx context.Context, errorLogURL string) (lines []int64, truncated bool, err error) {
	u, err := url.Parse(errorLogURL)
	if err != nil || u.User != nil || u.Host == "" ||
		(u.Scheme != "https" && (u.Scheme != c.base.Scheme || u.Host != c.base.Host)) {
		return nil, false, ErrErrorLogNotAllowed
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, ErrErrorLogNotAllowed
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.httpClient.Do(req)
	if err != nil {
		// Not the *url.Error itself: it prints the URL, which may be presigned.
		return nil, false, &NetworkError{Endpoint: "GET error_log", Err: errors.Unwrap(err)}
	}
	defer drainAndClose(resp.Body)
	switch {
	case resp.StatusCode >= 500:
		return nil, false, &NetworkError{Endpoint: "GET error_log", Err: fmt.Errorf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%w: %d %s", ErrErrorLogUnreadable, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return decodeFailedLines(resp.Body)
}

// decodeFailedLines reads the line numbers of an error log, one entry at a
// time, so that a large log never sits in memory whole. A log cut by
// maxErrorLogBytes gives the lines before the cut, truncated.
func decodeFailedLines(r io.Reader) (lines []int64, truncated bool, err error) {
	limited := &io.LimitedReader{R: r, N: maxErrorLogBytes}
	dec := json.NewDecoder(limited)
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, false, fmt.Errorf("%w: it is not a JSON array", ErrErrorLogUnreadable)
	}
	for dec.More() {
		var entry struct {
			Line int64 `json:"line"`
		}
		if err := dec.Decode(&entry); err != nil {
			if limited.N == 0 { // cut by the cap, not broken
				truncated = true
				break
			}
			return nil, false, fmt.Errorf("%w: %w", ErrErrorLogUnreadable, err)
		}
		if entry.Line < 1 {
			continue
		}
		if len(lines) == MaxErrorLogLines {
			truncated = true
			break
		}
		lines = append(lines, entry.Line)
	}
	slices.Sort(lines)
	return slices.Compact(lines), truncated, nil
}
