package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

var packEpoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// validated is an import of org 1 created at packEpoch+created, validated
// with a file of the given size, edited by edit.
func validated(name string, created time.Duration, bytes int64, edit ...func(*importsv1alpha1.ProfileImport)) *importsv1alpha1.ProfileImport {
	pi := &importsv1alpha1.ProfileImport{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(packEpoch.Add(created))},
		Spec: importsv1alpha1.ProfileImportSpec{
			AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"}, OrgID: ptr.To[int64](1),
			Format: importsv1alpha1.ProfileFormatJSON,
		},
		Status: importsv1alpha1.ProfileImportStatus{
			ContentDigest: "sha256:" + name, SourceRevision: "1", Bytes: bytes,
			Validation: &importsv1alpha1.ValidationSummary{ValidLines: 1},
		},
	}
	for _, e := range edit {
		e(pi)
	}
	return pi
}

func names(p pack) []string {
	var out []string
	for _, pi := range p.imports {
		out = append(out, pi.Name)
	}
	return out
}

// The uploads a line makes: packable imports of one scope together, in line
// order and under the size cap; anything else alone.
func TestPacksOf(t *testing.T) {
	never := func(pi *importsv1alpha1.ProfileImport) { pi.Spec.Packing = importsv1alpha1.PackingNever }
	csv := func(pi *importsv1alpha1.ProfileImport) { pi.Spec.Format = importsv1alpha1.ProfileFormatCSV }
	app := func(pi *importsv1alpha1.ProfileImport) { pi.Spec.OrgID, pi.Spec.AppID = nil, "app" }
	retrying := func(pi *importsv1alpha1.ProfileImport) { pi.Status.UploadIntent = &importsv1alpha1.UploadIntent{} }
	tests := map[string]struct {
		line []*importsv1alpha1.ProfileImport
		want [][]string
	}{
		"one scope, one upload": {
			line: []*importsv1alpha1.ProfileImport{validated("a", 0, 10), validated("b", 1, 10), validated("c", 2, 10)},
			want: [][]string{{"a", "b", "c"}},
		},
		"the size cap starts the next upload": {
			line: []*importsv1alpha1.ProfileImport{validated("a", 0, 60), validated("b", 1, 50), validated("c", 2, 40)},
			want: [][]string{{"a"}, {"b", "c"}},
		},
		"travelling alone, CSV and retries are uploads of their own": {
			line: []*importsv1alpha1.ProfileImport{validated("a", 0, 10), validated("b", 1, 10, never), validated("c", 2, 10, csv),
				validated("d", 3, 10, retrying), validated("e", 4, 10)},
			want: [][]string{{"a", "e"}, {"b"}, {"c"}, {"d"}},
		},
		"each scope its own uploads, ordered by their first import": {
			line: []*importsv1alpha1.ProfileImport{validated("a", 0, 10, app), validated("b", 1, 10), validated("c", 2, 10, app)},
			want: [][]string{{"a", "c"}, {"b"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			packs := packsOf(tc.line, 100)
			var got [][]string
			for _, p := range packs {
				got = append(got, names(p))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("packs %v, want %v", got, tc.want)
			}
			for i := range got {
				if len(got[i]) != len(tc.want[i]) {
					t.Fatalf("packs %v, want %v", got, tc.want)
				}
				for j := range got[i] {
					if got[i][j] != tc.want[i][j] {
						t.Fatalf("packs %v, want %v", got, tc.want)
					}
				}
			}
		})
	}
}

// An upload waits a quiet period after the newest import of its scope, but
// never longer than the most after its first one was created.
func TestGatherUntil(t *testing.T) {
	gathering := importsv1alpha1.Gathering{QuietPeriod: &metav1.Duration{Duration: 10 * time.Second}, MaxWait: &metav1.Duration{Duration: time.Minute}}
	first := validated("a", 0, 10)
	other := func(name string, created time.Duration, edit ...func(*importsv1alpha1.ProfileImport)) *importsv1alpha1.ProfileImport {
		pi := validated(name, created, 10, edit...)
		pi.Status = importsv1alpha1.ProfileImportStatus{Phase: importsv1alpha1.PhasePending} // not even validated yet
		return pi
	}
	tests := map[string]struct {
		imports   []*importsv1alpha1.ProfileImport
		gathering importsv1alpha1.Gathering
		want      time.Duration
	}{
		"alone: the quiet period":            {want: 10 * time.Second},
		"a newer import moves the end":       {imports: []*importsv1alpha1.ProfileImport{other("b", 5*time.Second)}, want: 15 * time.Second},
		"bounded by the most":                {imports: []*importsv1alpha1.ProfileImport{other("b", 55*time.Second)}, want: time.Minute},
		"another scope does not count":       {imports: []*importsv1alpha1.ProfileImport{other("b", 5*time.Second, func(pi *importsv1alpha1.ProfileImport) { pi.Spec.OrgID = ptr.To[int64](2) })}, want: 10 * time.Second},
		"an import travelling alone neither": {imports: []*importsv1alpha1.ProfileImport{other("b", 5*time.Second, func(pi *importsv1alpha1.ProfileImport) { pi.Spec.Packing = importsv1alpha1.PackingNever })}, want: 10 * time.Second},
		"no quiet period: no wait":           {gathering: importsv1alpha1.Gathering{QuietPeriod: &metav1.Duration{}}, want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := gathering
			if tc.gathering.QuietPeriod != nil {
				g = tc.gathering
			}
			got := gatherUntil(first, append(tc.imports, first), g)
			want := time.Time{}
			if tc.want > 0 {
				want = packEpoch.Add(tc.want)
			}
			if !got.Equal(want) {
				t.Errorf("gathers until %v, want %v", got, want)
			}
		})
	}
}

// An import's failed lines are those of the error log in its range.
func TestSharedStatistics(t *testing.T) {
	log := errorLog{lines: []int64{2, 4, 5, 9}}
	got := sharedStatistics(&importsv1alpha1.SharedUpload{FirstLine: 4, Lines: 3}, log)
	want := importsv1alpha1.ProfileImportStatistics{Total: 3, Failed: 2, Parsed: 1, Successful: 1}
	if *got != want {
		t.Errorf("statistics %+v, want %+v", *got, want)
	}
	if n := log.within(10, 5); n != 0 {
		t.Errorf("%d failed lines after the log's last, want 0", n)
	}
}

// countingJobs answers ProfileJobStatus, counting the calls.
type countingJobs struct {
	localytics.Interface
	calls  int
	status localytics.JobStatus
}

func (c *countingJobs) ProfileJobStatus(context.Context, string) (localytics.ProfileJob, error) {
	c.calls++
	return localytics.ProfileJob{Status: c.status}, nil
}

// The imports of one upload ask about one job: an answer younger than the
// age asked for serves them all, and a final answer serves them for good.
func TestSharedJobs(t *testing.T) {
	var jobs sharedJobs
	api := &countingJobs{status: localytics.JobRunning}
	for range 3 {
		if _, err := jobs.job(context.Background(), api, "a1", time.Second, packEpoch); err != nil {
			t.Fatal(err)
		}
	}
	if api.calls != 1 {
		t.Errorf("%d calls for three imports asking at once, want 1", api.calls)
	}
	_, _ = jobs.job(context.Background(), api, "a1", time.Second, packEpoch.Add(2*time.Second))
	api.status = localytics.JobCompleted
	_, _ = jobs.job(context.Background(), api, "a1", time.Second, packEpoch.Add(4*time.Second))
	if api.calls != 3 {
		t.Errorf("%d calls, want 3: an answer older than the age asked for is asked again", api.calls)
	}
	_, _ = jobs.job(context.Background(), api, "a1", time.Second, packEpoch.Add(time.Minute))
	if api.calls != 3 {
		t.Errorf("%d calls, want 3: the final answer serves the others", api.calls)
	}
}
