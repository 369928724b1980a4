package sim

import (
	"net/http"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestProfileChangesApplyToTheScope(t *testing.T) {
	cases := map[string]struct {
		files          []string // uploaded one after the other
		want           Profile  // customer c1 afterwards
		wantSuccessful float64  // of the last file
		wantFailed     float64
	}{
		"assign a string": {
			files: []string{`{"customer_id":"c1","changes":[{"op":"assign","attr":"name","value":"Ann"}]}`},
			want:  Profile{"name": "Ann"}, wantSuccessful: 1,
		},
		"assign an integer": {
			files: []string{`{"customer_id":"c1","changes":[{"op":"assign","attr":"age","value":42}]}`},
			want:  Profile{"age": int64(42)}, wantSuccessful: 1,
		},
		"assign a date keeps the string": {
			files: []string{`{"customer_id":"c1","changes":[{"op":"assign","attr":"born","value":"1990-12-31"}]}`},
			want:  Profile{"born": "1990-12-31"}, wantSuccessful: 1,
		},
		"assign replaces a set": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"set-add","attr":"tags","value":["a"]}]}`,
				`{"customer_id":"c1","changes":[{"op":"assign","attr":"tags","value":"flat"}]}`,
			},
			want: Profile{"tags": "flat"}, wantSuccessful: 1,
		},
		"increment starts from zero": {
			files: []string{`{"customer_id":"c1","changes":[{"op":"increment","attr":"visits","value":5}]}`},
			want:  Profile{"visits": int64(5)}, wantSuccessful: 1,
		},
		"increment by a negative value": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"assign","attr":"visits","value":10}]}`,
				`{"customer_id":"c1","changes":[{"op":"increment","attr":"visits","value":-3}]}`,
			},
			want: Profile{"visits": int64(7)}, wantSuccessful: 1,
		},
		"increment twice doubles: the only change that is not idempotent": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"increment","attr":"visits","value":2}]}`,
				`{"customer_id":"c1","changes":[{"op":"increment","attr":"visits","value":2}]}`,
			},
			want: Profile{"visits": int64(4)}, wantSuccessful: 1,
		},
		"set-add creates and merges, integers before strings": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"set-add","attr":"tags","value":["b",2]}]}`,
				`{"customer_id":"c1","changes":[{"op":"set-add","attr":"tags","value":["a","b",1]}]}`,
			},
			want: Profile{"tags": []any{int64(1), int64(2), "a", "b"}}, wantSuccessful: 1,
		},
		"set-remove removes members and keeps an emptied set": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"set-add","attr":"tags","value":["a","b"]},{"op":"set-add","attr":"gone","value":[7]}]}`,
				`{"customer_id":"c1","changes":[{"op":"set-remove","attr":"tags","value":["a","zzz"]},{"op":"set-remove","attr":"gone","value":[7]}]}`,
			},
			want: Profile{"tags": []any{"b"}, "gone": []any{}}, wantSuccessful: 1,
		},
		"set-remove of an absent attribute changes nothing": {
			files: []string{`{"customer_id":"c1","changes":[{"op":"set-remove","attr":"tags","value":["a"]},{"op":"assign","attr":"x","value":"y"}]}`},
			want:  Profile{"x": "y"}, wantSuccessful: 1,
		},
		"delete removes the attribute": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"assign","attr":"name","value":"Ann"},{"op":"assign","attr":"plan","value":"gold"}]}`,
				`{"customer_id":"c1","changes":[{"op":"delete","attr":"name"}]}`,
			},
			want: Profile{"plan": "gold"}, wantSuccessful: 1,
		},
		"a line applies all of its changes or none": {
			files: []string{
				`{"customer_id":"c1","changes":[{"op":"assign","attr":"name","value":"Ann"}]}`,
				`{"customer_id":"c1","changes":[{"op":"assign","attr":"plan","value":"gold"},{"op":"increment","attr":"name","value":1}]}` + "\n" +
					`{"customer_id":"c2","changes":[{"op":"assign","attr":"x","value":1}]}`,
			},
			want: Profile{"name": "Ann"}, wantSuccessful: 1, wantFailed: 1,
		},
		"changes of one file apply in line order": {
			files: []string{lines(
				`{"customer_id":"c1","changes":[{"op":"assign","attr":"n","value":1}]}`,
				`{"customer_id":"c1","changes":[{"op":"increment","attr":"n","value":10}]}`,
				`{"customer_id":"c1","changes":[{"op":"delete","attr":"n"},{"op":"assign","attr":"m","value":"last"}]}`,
			)},
			want: Profile{"m": "last"}, wantSuccessful: 3,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, nil)
			var st map[string]any
			for _, file := range tc.files {
				st = h.profileStatus(as1, h.uploadProfiles(as1, org60, "json", file))
				g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
			}
			g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(HaveKeyWithValue("c1", Equal(tc.want)))
			stats := st["upload_statistics"].(map[string]any)
			g.Expect(stats).To(HaveKeyWithValue("successful_imports", tc.wantSuccessful))
			g.Expect(stats).To(HaveKeyWithValue("failed_imports", tc.wantFailed))
		})
	}
}

func TestOrgAndAppScopesAreSeparate(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.profileStatus(as1, h.uploadProfiles(as1, org60, "json", `{"customer_id":"c1","changes":[{"op":"assign","attr":"where","value":"org"}]}`))
	h.profileStatus(as1, h.uploadProfiles(as1, app1, "json", `{"customer_id":"c1","changes":[{"op":"assign","attr":"where","value":"app"}]}`))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(Equal(map[string]Profile{"c1": {"where": "org"}}))
	g.Expect(h.sim.Profiles(Scope{AppID: "app-1"})).To(Equal(map[string]Profile{"c1": {"where": "app"}}))
	g.Expect(h.sim.Profiles(Scope{OrgID: 61})).To(BeEmpty())
}

func TestCSVRowsAssignAndEmptyCellsClear(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	st := h.profileStatus(as1, h.uploadProfiles(as1, org60, "csv", "customer_id,name,plan\nc1,Ann,gold\nc2,Bob,42\n"))
	g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(Equal(map[string]Profile{
		"c1": {"name": "Ann", "plan": "gold"},
		"c2": {"name": "Bob", "plan": "42"}, // CSV carries no types
	}))

	id := h.uploadProfiles(as1, org60, "csv", "\ufeffid,name,plan\r\nc1,,silver\r\n,Nobody,x\r\nc2,too,many,cells\r\n\"c3,broken\r\n")
	st = h.profileStatus(as1, id)
	g.Expect(st["upload_statistics"]).To(Equal(map[string]any{
		"successful_imports": 1.0, "parsed_imports": 1.0, "failed_imports": 3.0, "total_number_of_imports": 4.0,
	}))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(HaveKeyWithValue("c1", Profile{"plan": "silver"}))
	log, ok := h.sim.ErrorLog(id)
	g.Expect(ok).To(BeTrue())
	g.Expect(log).To(ConsistOf(
		LineError{Line: 3, CustomerID: "", Error: "the customer id is empty"},
		LineError{Line: 4, CustomerID: "c2", Error: "the row has 4 fields, the header has 3"},
		HaveField("Line", 5),
	))
}

func TestCSVWithABadHeaderFails(t *testing.T) {
	cases := map[string]string{
		"empty file":               "",
		"header only":              "customer_id,name\n",
		"duplicate attribute name": "customer_id,a,a\nc1,1,2\n",
		"unnamed attribute":        "customer_id,,b\nc1,1,2\n",
	}
	for name, file := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, nil)
			st := h.profileStatus(as1, h.uploadProfiles(as1, org60, "csv", file))
			g.Expect(st).To(HaveKeyWithValue("status", "Failed"))
			g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(BeEmpty())
		})
	}
}

func TestErrorLogListsEveryBadLine(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	file := lines(
		`{"customer_id":"ok","changes":[{"op":"assign","attr":"a","value":"v"}]}`,
		``,
		`not json`,
		`{"customer_id":"","changes":[{"op":"assign","attr":"a","value":"v"}]}`,
		`{"customer_id":"c4","changes":[]}`,
		`{"customer_id":"c5","changes":[{"op":"rename","attr":"a"}]}`,
		`{"customer_id":"c6","changes":[{"op":"assign","attr":"a","value":1.5}]}`,
		`{"customer_id":"c7","changes":[{"op":"assign","attr":"a","value":"`+strings.Repeat("x", 256)+`"}]}`,
		`{"customer_id":"c8","changes":[{"op":"increment","attr":"a","value":"1"}]}`,
		`{"customer_id":"c9","changes":[{"op":"set-add","attr":"a","value":[true]}]}`,
		`{"customer_id":"c10","changes":[{"op":"assign","value":"v"}]}`,
		`{"customer_id":"ok","changes":[{"op":"set-add","attr":"a","value":["x"]}]}`,
	)
	id := h.uploadProfiles(as1, org60, "json", file)
	st := h.profileStatus(as1, id)
	g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(st["upload_statistics"]).To(Equal(map[string]any{
		"successful_imports": 1.0, "parsed_imports": 2.0, "failed_imports": 10.0, "total_number_of_imports": 11.0,
	}))

	// The error log is served by the simulator at the absolute URL the job names.
	url, _ := st["error_log"].(string)
	g.Expect(url).To(Equal(h.srv.URL + "/_sim/errors/" + id + ".json"))
	resp, err := h.srv.Client().Get(url)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var entries []LineError
	g.Expect(decodeJSON(resp.Body, &entries)).To(Succeed())
	g.Expect(entries).To(HaveLen(10))
	byLine := map[int]LineError{}
	for _, e := range entries {
		byLine[e.Line] = e
	}
	g.Expect(byLine).To(HaveKey(3))
	g.Expect(byLine[3].Error).To(HavePrefix("invalid JSON"))
	g.Expect(byLine[4].Error).To(ContainSubstring("customer_id"))
	g.Expect(byLine[5].Error).To(ContainSubstring("changes"))
	g.Expect(byLine[6]).To(Equal(LineError{Line: 6, CustomerID: "c5", Error: `change 1: unknown op "rename" (want assign, increment, set-add, set-remove or delete)`}))
	g.Expect(byLine[7].Error).To(ContainSubstring("integer"))
	g.Expect(byLine[8].Error).To(ContainSubstring("256 characters"))
	g.Expect(byLine[9].Error).To(ContainSubstring("must be an integer"))
	g.Expect(byLine[10].CustomerID).To(Equal("c9"))
	g.Expect(byLine[11].Error).To(ContainSubstring(`"attr"`))
	g.Expect(byLine[12].Error).To(ContainSubstring("not hold a set"), "line 12 failed on the state, after parsing")
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(Equal(map[string]Profile{"ok": {"a": "v"}}))
}

func TestProfileUploadRefusals(t *testing.T) {
	file := field{"file", `{"customer_id":"c","changes":[{"op":"delete","attr":"a"}]}`}
	json := field{"format", "json"}
	cases := map[string]struct {
		fields []field
		body   string // raw body instead of fields
		want   int
		says   string
	}{
		"both org_id and app_id":     {fields: []field{org60, app1, json, file}, want: http.StatusBadRequest, says: "exactly one"},
		"neither org_id nor app_id":  {fields: []field{json, file}, want: http.StatusBadRequest, says: "org_id or app_id"},
		"org_id not a number":        {fields: []field{{"org_id", "sixty"}, json, file}, want: http.StatusBadRequest, says: "org_id"},
		"unknown format":             {fields: []field{org60, {"format", "xml"}, file}, want: http.StatusBadRequest, says: "format"},
		"format missing":             {fields: []field{org60, file}, want: http.StatusBadRequest, says: "format"},
		"file missing":               {fields: []field{org60, json}, want: http.StatusBadRequest, says: "file"},
		"two files":                  {fields: []field{org60, json, file, file}, want: http.StatusBadRequest, says: "more than one file"},
		"a field given twice":        {fields: []field{org60, org60, json, file}, want: http.StatusBadRequest, says: "more than once"},
		"not multipart":              {body: "org_id=60", want: http.StatusBadRequest, says: "multipart"},
		"format in capitals is fine": {fields: []field{org60, {"format", "JSON"}, file}, want: http.StatusAccepted},
		"fields after the file":      {fields: []field{file, json, org60}, want: http.StatusAccepted},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, nil)
			var r reply
			if tc.body != "" {
				r = h.send(http.MethodPost, "/v1/imports/profiles/upload", as1, strings.NewReader(tc.body), "application/x-www-form-urlencoded")
			} else {
				r = h.upload(http.MethodPost, "/v1/imports/profiles/upload", as1, tc.fields...)
			}
			g.Expect(r.status).To(Equal(tc.want), "%s", r.body)
			g.Expect(r.text()).To(ContainSubstring(tc.says))
			if tc.want != http.StatusAccepted {
				g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
				g.Expect(h.sim.Uploads()).To(BeEmpty())
				g.Expect(h.sim.Budgets(key1.Key)[0].Used).To(Equal(0), "a refused upload spends no budget")
			}
		})
	}
}

func TestUploadRecordsAreKept(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	file := `{"customer_id":"c","changes":[{"op":"delete","attr":"a"}]}`
	id := h.uploadProfiles(as1, app1, "json", file)
	g.Expect(h.sim.Uploads()).To(Equal([]UploadRecord{{
		Time: epoch, Key: key1.Key, Endpoint: EndpointProfileUpload, Scope: Scope{AppID: "app-1"},
		Format: "json", Bytes: int64(len(file)), ActivityID: id,
	}}))
}

func TestDiscardUploadsCountsAndDropsTheFile(t *testing.T) {
	g := NewWithT(t)
	spoolDir := t.TempDir()
	h := newHarness(t, func(c *Config) {
		c.DiscardUploads = true
		c.SpoolDir = spoolDir
	})
	line := `{"customer_id":"c","changes":[{"op":"assign","attr":"a","value":"v"}]}` + "\n"
	// Larger than what is kept in memory, so a file would have been spooled.
	file := strings.Repeat(line, spoolMemory/len(line)+1)
	id := h.uploadProfiles(as1, org60, "json", file)

	g.Expect(h.sim.Uploads()).To(ConsistOf(HaveField("Bytes", int64(len(file)))))
	g.Expect(os.ReadDir(spoolDir)).To(BeEmpty(), "nothing is spooled")
	g.Expect(h.profileStatus(as1, id)).To(HaveKeyWithValue("status", "Failed"), "there is nothing to apply")
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(BeEmpty())
}
