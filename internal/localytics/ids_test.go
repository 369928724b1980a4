package localytics

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// TestUploadWithAnUnusableActivityID: a server that answers an upload with
// 2xx and an activity id the operator could not store (empty, too long, odd
// characters) may have taken the file, so the client reports an unknown
// outcome, never a refusal and never an id, and does not send the file again.
func TestUploadWithAnUnusableActivityID(t *testing.T) {
	tests := map[string]string{
		"an empty id":                    `{"activity_id": ""}`,
		"a blank id":                     `{"activity_id": "   "}`,
		"a null id":                      `{"activity_id": null}`,
		"an id one byte over the limit":  `{"activity_id": "` + strings.Repeat("a", MaxActivityIDLength+1) + `"}`,
		"a huge id":                      `{"activity_id": "` + strings.Repeat("7", 1<<20) + `"}`,
		"a path":                         `{"activity_id": "../../v1/imports/audiences/list/31245"}`,
		"a slash":                        `{"activity_id": "abc/def"}`,
		"white space inside":             `{"activity_id": "abc def"}`,
		"markup":                         `{"activity_id": "<script>alert(1)</script>"}`,
		"a control character":            `{"activity_id": "abc\u001b[31m"}`,
		"a non-ASCII letter":             `{"activity_id": "abcé"}`,
		"a leading dot":                  `{"activity_id": ".."}`,
		"a negative number":              `{"activity_id": -5}`,
		"a query":                        `{"activity_id": "abc?x=1"}`,
		"an id made of a percent escape": `{"activity_id": "%2e%2e"}`,
	}
	calls := map[string]func(context.Context, *Client) (any, error){
		"P1": uploadProfiles, "A1": createAudienceList, "A3": replaceAudienceList,
	}
	for name, body := range tests {
		for callName, call := range calls {
			t.Run(callName+"/"+name, func(t *testing.T) {
				g := NewWithT(t)
				h := &countingHandler{next: respond(202, "application/json", body)}
				c := newTestClient(t, h)
				id, err := call(context.Background(), c)
				g.Expect(err).To(HaveOccurred())
				g.Expect(id).To(BeEmpty())
				g.Expect(h.count()).To(Equal(1), "an upload is never sent twice")
				g.Expect(IsUnknownOutcome(err)).To(BeTrue(), "a 2xx is no proof of a refusal: %v", err)
				g.Expect(IsInvalidActivityID(err)).To(BeTrue(), "%v", err)
				g.Expect(IsTransient(err)).To(BeFalse())
				g.Expect(errors.Is(err, ErrInvalidRequest)).To(BeFalse(), "the request was sent")
				var decodeErr *DecodeError
				g.Expect(errors.As(err, &decodeErr)).To(BeTrue())
				g.Expect(len(err.Error())).To(BeNumerically("<", 1000), "the message does not carry the id")
			})
		}
	}
}

// TestUploadWithAUsableActivityID: the ids the vendor issues, and the longest
// one allowed, are taken as they come.
func TestUploadWithAUsableActivityID(t *testing.T) {
	longest := strings.Repeat("a", MaxActivityIDLength)
	tests := map[string]struct{ body, want string }{
		"a UUID":             {`{"activity_id": "3b4a65e5-2beb-4011-85df-c9f594217d90"}`, "3b4a65e5-2beb-4011-85df-c9f594217d90"},
		"a number":           {`{"activity_id": 123456}`, "123456"},
		"a padded string":    {`{"activity_id": " 42 "}`, "42"},
		"the longest id":     {`{"activity_id": "` + longest + `"}`, longest},
		"dots and an under":  {`{"activity_id": "job_1.2-3"}`, "job_1.2-3"},
		"the largest number": {`{"activity_id": 9223372036854775807}`, "9223372036854775807"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c := newTestClient(t, respond(202, "application/json", tc.body))
			id, err := uploadProfiles(context.Background(), c)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(id).To(Equal(tc.want))
		})
	}
}

// TestActivityIDPatternAgrees: the pattern the CRD repeats accepts exactly
// what checkActivityID accepts, on the ids of both tests above.
func TestActivityIDPatternAgrees(t *testing.T) {
	g := NewWithT(t)
	for _, id := range []string{"3b4a65e5-2beb-4011-85df-c9f594217d90", "123456", "a", "A_b.c-9"} {
		g.Expect(checkActivityID(id)).To(Succeed(), id)
		g.Expect(activityIDFormat.MatchString(id)).To(BeTrue(), id)
	}
	for _, id := range []string{"", "-a", ".", "..", "a b", "a/b", "é", "a\n"} {
		g.Expect(checkActivityID(id)).NotTo(Succeed(), id)
	}
}

// TestErrorLogURLOverTheLimitIsDropped: the job is read, its error log URL
// dropped when the status could not hold it.
func TestErrorLogURLOverTheLimitIsDropped(t *testing.T) {
	for name, tc := range map[string]struct {
		url  string
		want string
	}{
		"at the limit":   {url: "https://logs.example.com/" + strings.Repeat("a", MaxErrorLogURLLength-25), want: "same"},
		"over the limit": {url: "https://logs.example.com/" + strings.Repeat("a", MaxErrorLogURLLength-24), want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			body, err := json.Marshal(map[string]any{"status": "Completed", "error_log": tc.url})
			g.Expect(err).NotTo(HaveOccurred())
			c := newTestClient(t, respond(200, "application/json", string(body)))
			job, err := c.ProfileJobStatus(context.Background(), "3b4a65e5-2beb-4011-85df-c9f594217d90")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(job.Status).To(Equal(JobCompleted))
			want := tc.want
			if want == "same" {
				g.Expect(tc.url).To(HaveLen(MaxErrorLogURLLength))
				want = tc.url
			}
			g.Expect(job.ErrorLogURL).To(Equal(want))
		})
	}
}

// TestAudienceListIDOverTheLimitIsRefused: an id longer than the status may
// hold is a changed contract, refused like a missing one.
func TestAudienceListIDOverTheLimitIsRefused(t *testing.T) {
	long := strings.Repeat("1", MaxAudienceListIDLength+1)
	for name, tc := range map[string]struct {
		call func(context.Context, *Client) (any, error)
		body string
	}{
		"in a job":     {call: getAudienceJob, body: `{"status":"Completed","upload_statistics":{"audience_list_id":"` + long + `"}}`},
		"in a listing": {call: listAudienceLists, body: `[{"id":"` + long + `","name":"a"}]`},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c := newTestClient(t, respond(200, "application/json", tc.body))
			_, err := tc.call(context.Background(), c)
			var decodeErr *DecodeError
			g.Expect(errors.As(err, &decodeErr)).To(BeTrue(), "%v", err)
		})
	}
	g := NewWithT(t)
	c := newTestClient(t, respond(200, "application/json", `[{"id":"`+long[1:]+`","name":"a"}]`))
	lists, err := c.ListAudienceLists(context.Background(), "app-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lists).To(HaveLen(1))
}
