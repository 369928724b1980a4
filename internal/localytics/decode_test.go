package localytics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The calls a variant is served to.
func getProfileJob(ctx context.Context, c *Client) (any, error) {
	return c.ProfileJobStatus(ctx, "3b4a65e5-2beb-4011-85df-c9f594217d90")
}

func getAudienceJob(ctx context.Context, c *Client) (any, error) {
	return c.AudienceJobStatus(ctx, "3b4a65e5-2beb-4011-85df-c9f594217d90")
}

func listAudienceLists(ctx context.Context, c *Client) (any, error) {
	return c.ListAudienceLists(ctx, "app-1")
}

func uploadProfiles(ctx context.Context, c *Client) (any, error) {
	return c.UploadProfiles(ctx, ProfileUpload{
		Scope:  Scope{OrgID: 60},
		Format: ProfileFormatJSON,
		File:   UploadFile{Content: strings.NewReader(`{"customer_id":"a","changes":[]}` + "\n")},
	})
}

func createAudienceList(ctx context.Context, c *Client) (any, error) {
	return c.CreateAudienceList(ctx, AudienceListCreate{
		AppID: "app-1",
		Name:  "vips",
		File:  UploadFile{Content: strings.NewReader(`{"customer_id":"a"}` + "\n")},
	})
}

func replaceAudienceList(ctx context.Context, c *Client) (any, error) {
	return c.ReplaceAudienceList(ctx, AudienceListReplace{
		AppID:          "app-1",
		AudienceListID: "31245",
		File:           UploadFile{Content: strings.NewReader(`{"customer_id":"a"}` + "\n")},
	})
}

func deleteAudienceList(ctx context.Context, c *Client) (any, error) {
	return nil, c.DeleteAudienceList(ctx, "31245")
}

func renameAudienceList(ctx context.Context, c *Client) (any, error) {
	return nil, c.RenameAudienceList(ctx, "31245", "renamed")
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// TestDecodeTolerance serves every response variant docs/localytics-api.md says to
// tolerate, over HTTP, and checks the typed result.
func TestDecodeTolerance(t *testing.T) {
	const completedJob = `"upload_statistics":{"successful_imports":99,"parsed_imports":99,"failed_imports":1,"total_number_of_imports":100}`
	wantStats := ProfileStats{Successful: 99, Parsed: 99, Failed: 1, Total: 100}

	tests := map[string]struct {
		call   func(context.Context, *Client) (any, error)
		status int
		body   string
		want   any
	}{
		"profile job as documented": {
			call:   getProfileJob,
			status: 200,
			body:   `{"status":"Completed","error_log":"https://logs/errors.json","target":{"org_id":60},` + completedJob + `}`,
			want:   ProfileJob{Status: JobCompleted, RawStatus: "Completed", ErrorLogURL: "https://logs/errors.json", Target: Scope{OrgID: 60}, Stats: wantStats},
		},
		"profile job as the vendor's sample: scopet, no scheme, trailing comma": {
			call:   getProfileJob,
			status: 200,
			body: `{ "status": "Completed", "error_log": "profile-bulk-update-sandbox.s3.aws.com/errors/x/errors.json", "scopet": {"org_id": 1234},
			  "upload_statistics": { "successful_imports": 99, "parsed_imports": 99, "failed_imports": 1, "total_number_of_imports": 100, } }`,
			want: ProfileJob{Status: JobCompleted, RawStatus: "Completed", ErrorLogURL: "profile-bulk-update-sandbox.s3.aws.com/errors/x/errors.json", Target: Scope{OrgID: 1234}, Stats: wantStats},
		},
		"profile counters as numeric strings": {
			call:   getProfileJob,
			status: 200,
			body:   `{"status":"Completed","upload_statistics":{"successful_imports":"99","parsed_imports":" 99 ","failed_imports":"1","total_number_of_imports":"100"}}`,
			want:   ProfileJob{Status: JobCompleted, RawStatus: "Completed", Stats: wantStats},
		},
		"profile counters as integral floats": {
			call:   getProfileJob,
			status: 200,
			body:   `{"status":"Completed","upload_statistics":{"successful_imports":99.0,"parsed_imports":9.9e1,"failed_imports":"1.0","total_number_of_imports":100}}`,
			want:   ProfileJob{Status: JobCompleted, RawStatus: "Completed", Stats: wantStats},
		},
		"status in lower case": {
			call: getProfileJob, status: 200,
			body: `{"status":"running"}`,
			want: ProfileJob{Status: JobRunning, RawStatus: "running"},
		},
		"status in upper case with white space": {
			call: getProfileJob, status: 200,
			body: `{"status":"  FAILED "}`,
			want: ProfileJob{Status: JobFailed, RawStatus: "FAILED"},
		},
		"unknown status is still pending, not a failure": {
			call: getProfileJob, status: 200,
			body: `{"status":"Queued"}`,
			want: ProfileJob{Status: JobPending, RawStatus: "Queued"},
		},
		"missing status is pending": {
			call: getProfileJob, status: 200,
			body: `{}`,
			want: ProfileJob{Status: JobPending},
		},
		"pending job without upload_statistics or error_log": {
			call: getProfileJob, status: 200,
			body: `{"status":"Pending","error_log":null,"target":{"app_id":"app-1"},"upload_statistics":null}`,
			want: ProfileJob{Status: JobPending, RawStatus: "Pending", Target: Scope{AppID: "app-1"}},
		},
		"target ids as the other JSON type": {
			call: getProfileJob, status: 200,
			body: `{"status":"Running","target":{"org_id":"60"}}`,
			want: ProfileJob{Status: JobRunning, RawStatus: "Running", Target: Scope{OrgID: 60}},
		},
		"target wins over scopet": {
			call: getProfileJob, status: 200,
			body: `{"status":"Running","target":{"app_id":123},"scopet":{"org_id":60}}`,
			want: ProfileJob{Status: JobRunning, RawStatus: "Running", Target: Scope{AppID: "123"}},
		},
		"empty target falls back to scopet": {
			call: getProfileJob, status: 200,
			body: `{"status":"Running","target":{},"scopet":{"org_id":60}}`,
			want: ProfileJob{Status: JobRunning, RawStatus: "Running", Target: Scope{OrgID: 60}},
		},
		"target of an unknown shape is ignored": {
			call: getProfileJob, status: 200,
			body: `{"status":"Running","target":"org 60"}`,
			want: ProfileJob{Status: JobRunning, RawStatus: "Running"},
		},
		"extra fields and keys in another case": {
			call: getProfileJob, status: 200,
			body: `{"Status":"Completed","activity_id":"x","new_field":{"a":[1,2]},"Upload_Statistics":{"successful_imports":99,"parsed_imports":99,"failed_imports":1,"total_number_of_imports":100,"skipped":3}}`,
			want: ProfileJob{Status: JobCompleted, RawStatus: "Completed", Stats: wantStats},
		},
		"byte order mark": {
			call: getProfileJob, status: 200,
			body: "\xef\xbb\xbf" + `{"status":"Pending"}`,
			want: ProfileJob{Status: JobPending, RawStatus: "Pending"},
		},

		"audience job as the vendor's sample: counters and ids as strings": {
			call: getAudienceJob, status: 200,
			body: `{"status":"Completed","app_uuid":"abcde-12345-example-app-id","upload_statistics":{"total_lines":"1","audience_id":"999","audience_list_id":"3","failed_lines":"3","successful_lines":"500"}}`,
			want: AudienceJob{Status: JobCompleted, RawStatus: "Completed", AppID: "abcde-12345-example-app-id",
				Stats: AudienceStats{TotalLines: 1, FailedLines: 3, SuccessfulLines: 500, AudienceID: "999", AudienceListID: "3"}},
		},
		"audience job with counters and ids as numbers": {
			call: getAudienceJob, status: 200,
			body: `{"status":"completed","upload_statistics":{"total_lines":503,"audience_id":999,"audience_list_id":3.0,"failed_lines":3,"successful_lines":500}}`,
			want: AudienceJob{Status: JobCompleted, RawStatus: "completed",
				Stats: AudienceStats{TotalLines: 503, FailedLines: 3, SuccessfulLines: 500, AudienceID: "999", AudienceListID: "3"}},
		},
		"pending audience job with nulls and zone-less times": {
			call: getAudienceJob, status: 200,
			body: `{"status":"Pending","error_reason":null,"upload_statistics":null,"app_uuid":"abcde","created_at":"2017-04-25T08:00:00","updated_at":"2017-04-25T08:00:00.123"}`,
			want: AudienceJob{Status: JobPending, RawStatus: "Pending", AppID: "abcde",
				CreatedAt: utc("2017-04-25T08:00:00Z"), UpdatedAt: utc("2017-04-25T08:00:00.123Z")},
		},
		"failed audience job with a structured error_reason": {
			call: getAudienceJob, status: 200,
			body: `{"status":"Failed","error_reason":{"code":12, "message":"bad file"},"created_at":1493107200,"updated_at":"2017-04-25 08:00:00+02:00"}`,
			want: AudienceJob{Status: JobFailed, RawStatus: "Failed", ErrorReason: `{"code":12,"message":"bad file"}`,
				CreatedAt: utc("2017-04-25T08:00:00Z"), UpdatedAt: utc("2017-04-25T06:00:00Z")},
		},

		"activity id as a string on 202": {
			call: uploadProfiles, status: 202,
			body: `{"activity_id": "3b4a65e5-2beb-4011-85df-c9f594217d90"}`,
			want: "3b4a65e5-2beb-4011-85df-c9f594217d90",
		},
		"activity id as a number": {
			call: uploadProfiles, status: 202,
			body: `{"activity_id": 123456}`,
			want: "123456",
		},
		"audience create answered 200, as the code table says": {
			call: createAudienceList, status: 200,
			body: `{"activity_id":"abc","message":"queued"}`,
			want: "abc",
		},
		"audience create answered 201": {
			call: createAudienceList, status: 201,
			body: `{"activity_id":"abc"}`,
			want: "abc",
		},
		"audience replace with a numeric activity id": {
			call: replaceAudienceList, status: 202,
			body: `{"activity_id":77}`,
			want: "77",
		},

		"audience lists as the vendor's sample": {
			call: listAudienceLists, status: 200,
			body: `[{ "id": 34351, "name": "audience-test-1", "app_id": "app-1", "version": 3, "record_count": 123432, "created_at": "2017-08-15T18:30:08", "updated_at": "2018-09-25T13:48:15" }]`,
			want: []AudienceList{{ID: "34351", Name: "audience-test-1", AppID: "app-1", Version: 3, RecordCount: 123432,
				CreatedAt: utc("2017-08-15T18:30:08Z"), UpdatedAt: utc("2018-09-25T13:48:15Z")}},
		},
		"audience lists with ids and counters as strings and other time layouts": {
			call: listAudienceLists, status: 200,
			body: `[{"id":"34351","name":"a","app_id":"app-1","version":"3","record_count":"12","created_at":"2017-08-15T18:30:08Z","updated_at":"2017-08-15T20:30:08.5+02:00"},
			        {"id":34352,"name":"b","version":1,"record_count":0,"created_at":"2017-08-15 18:30:08","updated_at":1502821808000,"extra":true}]`,
			want: []AudienceList{
				{ID: "34351", Name: "a", AppID: "app-1", Version: 3, RecordCount: 12, CreatedAt: utc("2017-08-15T18:30:08Z"), UpdatedAt: utc("2017-08-15T18:30:08.5Z")},
				{ID: "34352", Name: "b", Version: 1, CreatedAt: utc("2017-08-15T18:30:08Z"), UpdatedAt: utc("2017-08-15T18:30:08Z")},
			},
		},
		"no audience lists": {
			call: listAudienceLists, status: 200,
			body: `[]`,
			want: []AudienceList{},
		},
		"null for no audience lists": {
			call: listAudienceLists, status: 200,
			body: `null`,
			want: []AudienceList{},
		},

		"delete answered 200 with a body": {
			call: deleteAudienceList, status: 200, body: `{"deleted":true}`,
		},
		"delete answered 204": {
			call: deleteAudienceList, status: 204,
		},
		"rename answered 200 with a body that is not JSON": {
			call: renameAudienceList, status: 200, body: `OK`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c := newTestClient(t, respond(tc.status, "application/json", tc.body))
			got, err := tc.call(context.Background(), c)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.want == nil {
				g.Expect(got).To(BeNil())
				return
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// TestDecodeRefusals checks what the client refuses to guess, and how the
// refusal is classified.
func TestDecodeRefusals(t *testing.T) {
	tests := map[string]struct {
		call        func(context.Context, *Client) (any, error)
		status      int
		contentType string
		body        string
		// wantRequests is 3 when the call is retried (fastRetries), 1 when not.
		wantRequests   int
		wantTransient  bool
		wantUnknown    bool
		wantStatusCode int
		wantBody       string
	}{
		"status body that is not JSON is retried, then transient": {
			call: getProfileJob, status: 200, contentType: "text/html", body: "<html>maintenance</html>",
			wantRequests: 3, wantTransient: true,
		},
		"truncated status body": {
			call: getAudienceJob, status: 200, body: `{"status":"Compl`,
			wantRequests: 3, wantTransient: true,
		},
		"a counter that is not a number": {
			call: getProfileJob, status: 200, body: `{"status":"Completed","upload_statistics":{"failed_imports":"some"}}`,
			wantRequests: 3, wantTransient: true,
		},
		"a time in no known layout": {
			call: listAudienceLists, status: 200, body: `[{"id":1,"created_at":"last tuesday"}]`,
			wantRequests: 3, wantTransient: true,
		},
		"an audience list without an id": {
			call: listAudienceLists, status: 200, body: `[{"name":"a"}]`,
			wantRequests: 3, wantTransient: true,
		},
		"a job that is an array": {
			call: getProfileJob, status: 200, body: `[{"status":"Completed"}]`,
			wantRequests: 3, wantTransient: true,
		},
		"an accepted upload without activity_id has an unknown outcome": {
			call: uploadProfiles, status: 202, body: `{}`,
			wantRequests: 1, wantUnknown: true,
		},
		"an accepted upload with an empty body has an unknown outcome": {
			call: createAudienceList, status: 200, body: ``,
			wantRequests: 1, wantUnknown: true,
		},
		"empty text/plain 404": {
			call: getProfileJob, status: 404, contentType: "text/plain",
			wantRequests: 1, wantStatusCode: 404,
		},
		"JSON 400 with a message is kept as text": {
			call: createAudienceList, status: 400, body: `{"error":"audience list limit of 500 reached"}`,
			wantRequests: 1, wantStatusCode: 400, wantBody: `{"error":"audience list limit of 500 reached"}`,
		},
		"HTML 500 is retried and folded into one line": {
			call: listAudienceLists, status: 500, contentType: "text/html", body: "<html>\n<body>\tInternal\r\nError</body></html>",
			wantRequests: 3, wantTransient: true, wantStatusCode: 500, wantBody: "<html> <body> Internal Error</body></html>",
		},
		"a 5xx on an upload is transient but not retried": {
			call: uploadProfiles, status: 503, body: "try later",
			wantRequests: 1, wantTransient: true, wantStatusCode: 503, wantBody: "try later",
		},
		"a 504 on an upload has an unknown outcome": {
			call: replaceAudienceList, status: 504,
			wantRequests: 1, wantUnknown: true, wantStatusCode: 504,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := &countingHandler{next: respond(tc.status, tc.contentType, tc.body)}
			c := newTestClient(t, h)
			_, err := tc.call(context.Background(), c)
			g.Expect(err).To(HaveOccurred())
			g.Expect(h.count()).To(Equal(tc.wantRequests))
			g.Expect(IsTransient(err)).To(Equal(tc.wantTransient), "IsTransient(%v)", err)
			g.Expect(IsUnknownOutcome(err)).To(Equal(tc.wantUnknown), "IsUnknownOutcome(%v)", err)
			if tc.wantStatusCode != 0 {
				g.Expect(errors.As(err, new(*APIError))).To(BeTrue())
				g.Expect(asAPIError(err).StatusCode).To(Equal(tc.wantStatusCode))
				g.Expect(asAPIError(err).Body).To(Equal(tc.wantBody))
			}
		})
	}
}

func asAPIError(err error) *APIError {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return nil
}

func TestFlexValues(t *testing.T) {
	ints := map[string]struct {
		in      string
		want    int64
		wantErr bool
	}{
		"number":                {in: `42`, want: 42},
		"negative":              {in: `-7`, want: -7},
		"numeric string":        {in: `"42"`, want: 42},
		"padded string":         {in: `" 42 "`, want: 42},
		"integral float":        {in: `42.0`, want: 42},
		"exponent":              {in: `4.2e1`, want: 42},
		"null":                  {in: `null`, want: 0},
		"empty string":          {in: `""`, want: 0},
		"largest int64":         {in: `9223372036854775807`, want: 1<<63 - 1},
		"fraction":              {in: `4.5`, wantErr: true},
		"word":                  {in: `"lots"`, wantErr: true},
		"boolean":               {in: `true`, wantErr: true},
		"object":                {in: `{}`, wantErr: true},
		"beyond int64":          {in: `1e30`, wantErr: true},
		"string beyond int64":   {in: `"9223372036854775808"`, wantErr: true},
		"not a number, as text": {in: `"NaN"`, wantErr: true},
	}
	for name, tc := range ints {
		t.Run("int/"+name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := parseFlexInt([]byte(tc.in))
			if tc.wantErr {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}

	times := map[string]struct {
		in   string
		want time.Time
	}{
		"RFC 3339":               {in: `"2018-09-25T13:48:15Z"`, want: utc("2018-09-25T13:48:15Z")},
		"RFC 3339 with offset":   {in: `"2018-09-25T15:48:15+02:00"`, want: utc("2018-09-25T13:48:15Z")},
		"zone-less, as vendor":   {in: `"2018-09-25T13:48:15"`, want: utc("2018-09-25T13:48:15Z")},
		"zone-less with micros":  {in: `"2018-09-25T13:48:15.123456"`, want: utc("2018-09-25T13:48:15.123456Z")},
		"space separated":        {in: `"2018-09-25 13:48:15"`, want: utc("2018-09-25T13:48:15Z")},
		"compact offset":         {in: `"2018-09-25T15:48:15+0200"`, want: utc("2018-09-25T13:48:15Z")},
		"HTTP date":              {in: `"Tue, 25 Sep 2018 13:48:15 GMT"`, want: utc("2018-09-25T13:48:15Z")},
		"date only":              {in: `"2018-09-25"`, want: utc("2018-09-25T00:00:00Z")},
		"Unix seconds":           {in: `1537883295`, want: utc("2018-09-25T13:48:15Z")},
		"Unix seconds as string": {in: `"1537883295"`, want: utc("2018-09-25T13:48:15Z")},
		"Unix milliseconds":      {in: `1537883295500`, want: utc("2018-09-25T13:48:15.5Z")},
		"null":                   {in: `null`},
		"empty":                  {in: `""`},
	}
	for name, tc := range times {
		t.Run("time/"+name, func(t *testing.T) {
			g := NewWithT(t)
			var got flexTime
			g.Expect(got.UnmarshalJSON([]byte(tc.in))).To(Succeed())
			g.Expect(time.Time(got).Equal(tc.want)).To(BeTrue(), "got %v, want %v", time.Time(got), tc.want)
		})
	}
}

func TestStripTrailingCommas(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"object":                   {in: `{"a":1,}`, want: `{"a":1}`},
		"array with white space":   {in: "[1,2,\n ]", want: "[1,2\n ]"},
		"nested":                   {in: `{"a":[1,],"b":{"c":2,},}`, want: `{"a":[1],"b":{"c":2}}`},
		"commas in strings stay":   {in: `{"a":"x,}","b":"\",]",}`, want: `{"a":"x,}","b":"\",]"}`},
		"ordinary commas stay":     {in: `{"a":1,"b":2}`, want: `{"a":1,"b":2}`},
		"escaped backslash at end": {in: `{"a":"\\",}`, want: `{"a":"\\"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _ := stripTrailingCommas([]byte(tc.in))
			NewWithT(t).Expect(string(got)).To(Equal(tc.want))
		})
	}
}
