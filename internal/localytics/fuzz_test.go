package localytics

import (
	"reflect"
	"testing"
)

// The fuzz targets feed arbitrary bodies to the decoders. Beyond "never
// panics", each checks the promises callers rely on. Seeds live in
// testdata/fuzz/<target>.

var knownStatuses = map[JobStatus]bool{JobPending: true, JobRunning: true, JobFailed: true, JobCompleted: true}

func FuzzDecodeProfileJob(f *testing.F) {
	f.Add([]byte(`{"status":"Completed","error_log":"x","target":{"org_id":60},"upload_statistics":{"successful_imports":"99","parsed_imports":99,"failed_imports":1,"total_number_of_imports":100,}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		job, err := decodeProfileJob(body)
		if err != nil {
			return
		}
		if !knownStatuses[job.Status] {
			t.Fatalf("status %q is not one of the four", job.Status)
		}
		if job.Status != parseJobStatus(job.RawStatus) {
			t.Fatalf("status %q does not follow the raw status %q", job.Status, job.RawStatus)
		}
		again, err := decodeProfileJob(body)
		if err != nil || !reflect.DeepEqual(job, again) {
			t.Fatalf("decoding is not deterministic: %+v, then %+v, %v", job, again, err)
		}
	})
}

func FuzzDecodeAudienceJob(f *testing.F) {
	f.Add([]byte(`{"status":"completed","upload_statistics":{"total_lines":"1","audience_id":999,"audience_list_id":"3","failed_lines":"3","successful_lines":"500"},"created_at":"2017-04-25T08:00:00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		job, err := decodeAudienceJob(body)
		if err != nil {
			return
		}
		if !knownStatuses[job.Status] {
			t.Fatalf("status %q is not one of the four", job.Status)
		}
		if !job.CreatedAt.IsZero() && job.CreatedAt.Location().String() != "UTC" {
			t.Fatalf("times are reported in UTC, got %v", job.CreatedAt)
		}
	})
}

func FuzzDecodeAudienceLists(f *testing.F) {
	f.Add([]byte(`[{"id":34351,"name":"a","app_id":"x","version":"3","record_count":1,"created_at":"2017-08-15T18:30:08","updated_at":1502821808}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		lists, err := decodeAudienceLists(body)
		if err != nil {
			return
		}
		if lists == nil {
			t.Fatal("no lists is an empty slice, not nil")
		}
		for i, l := range lists {
			if l.ID == "" {
				t.Fatalf("list %d has no id: a list the operator cannot see looks deleted", i)
			}
		}
	})
}

func FuzzDecodeActivityID(f *testing.F) {
	f.Add([]byte(`{"activity_id": "3b4a65e5-2beb-4011-85df-c9f594217d90"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := decodeActivityID(body)
		if err == nil && id == "" {
			t.Fatal("success without an activity id")
		}
	})
}

func FuzzExcerpt(f *testing.F) {
	f.Add([]byte("<html>\n\tInternal Server Error\n</html>"), "s3cr3t")
	f.Fuzz(func(t *testing.T, body []byte, secret string) {
		if secret == "" {
			return
		}
		creds := Credentials{Key: "k", Secret: secret}
		got := excerpt(body, creds.redact)
		if len(got) > maxBodyExcerpt {
			t.Fatalf("excerpt of %d bytes", len(got))
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character %U in %q", r, got)
			}
		}
	})
}
