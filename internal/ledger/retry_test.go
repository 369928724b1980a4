package ledger

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// retryOnConflict must take the steps client-go's RetryOnConflict takes, so
// each case runs both; only their jitter differs.
func TestRetryOnConflict(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "localyticsaccounts"}, "acme", errors.New("changed"))
	other := errors.New("boom")
	fast := wait.Backoff{Duration: time.Millisecond, Factor: 1.5, Steps: 4, Cap: time.Second}
	tests := map[string]struct {
		backoff wait.Backoff
		errs    []error // fn's answers in turn, the last repeated
		calls   int
		want    error
	}{
		"success at once":                    {fast, []error{nil}, 1, nil},
		"conflicts, then success":            {fast, []error{conflict, conflict, nil}, 3, nil},
		"another error ends it at once":      {fast, []error{conflict, other}, 2, other},
		"the last conflict after every step": {fast, []error{conflict}, 4, conflict},
		"the cap ends the steps early":       {wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 10, Cap: 3 * time.Millisecond}, []error{conflict}, 2, conflict},
		"one step: called once":              {wait.Backoff{Duration: time.Millisecond, Steps: 1}, []error{conflict}, 1, conflict},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			for impl, retryFn := range map[string]func(wait.Backoff, func() error) error{
				"ours": retryOnConflict, "client-go's": retry.RetryOnConflict,
			} {
				calls := 0
				err := retryFn(tc.backoff, func() error {
					calls++
					return tc.errs[min(calls, len(tc.errs))-1]
				})
				g.Expect(calls).To(Equal(tc.calls), impl)
				if tc.want == nil {
					g.Expect(err).NotTo(HaveOccurred(), impl)
				} else {
					g.Expect(err).To(MatchError(tc.want), impl)
				}
			}
		})
	}
}
