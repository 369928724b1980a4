package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// kubectl runs the kubectl built with the control plane, as a person would,
// and returns its standard output and standard error.
func kubectl(args ...string) (stdout, stderr string, err error) {
	bin, err := testenv.Kubectl()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func writeManifest(doc string) string {
	path := filepath.Join(GinkgoT().TempDir(), "manifest.yaml")
	ExpectWithOffset(1, os.WriteFile(path, []byte(doc), 0o600)).To(Succeed())
	return path
}

var _ = Describe("kubectl", func() {
	It("applies every sample and lists all three kinds with their columns", func() {
		ns := newNamespace()
		samples := filepath.Join(testenv.RepoRoot(), "config", "samples")

		out, errOut, err := kubectl("apply", "-n", ns, "-f", samples)
		Expect(err).NotTo(HaveOccurred(), errOut)
		Expect(out).To(ContainSubstring("localyticsaccount.imports.localytics.dev/acme created"))
		Expect(out).To(ContainSubstring("profileimport.imports.localytics.dev/loyalty-tiers-2026-11 created"))
		Expect(out).To(ContainSubstring("profileimport.imports.localytics.dev/home-stores-2026-11 created"))
		Expect(out).To(ContainSubstring("audiencelist.imports.localytics.dev/vip-customers created"))

		out, errOut, err = kubectl("get", "localytics", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), errOut)
		for _, want := range []string{
			"localyticsaccount.imports.localytics.dev/acme", "UPLOADS LEFT", "NEXT SLOT",
			"profileimport.imports.localytics.dev/loyalty-tiers-2026-11", "PHASE", "ACTIVITY", "ROWS OK", "ROWS FAILED",
			"audiencelist.imports.localytics.dev/vip-customers", "AUDIENCE", "LIST ID", "VIP customers",
		} {
			Expect(out).To(ContainSubstring(want))
		}

		By("answering to the short names")
		for _, short := range []string{"lya", "pi", "al"} {
			_, errOut, err = kubectl("get", short, "-n", ns)
			Expect(err).NotTo(HaveOccurred(), errOut)
		}

		By("showing the secondary columns with -o wide")
		out, errOut, err = kubectl("get", "pi", "-n", ns, "-o", "wide")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Expect(out).To(ContainSubstring("ACCOUNT"))
		Expect(out).To(ContainSubstring("FORMAT"))
	})

	for name, tc := range invalidObjects {
		It("refuses "+name+" with its message", func() {
			ns := newNamespace()
			if tc.before != "" {
				_, errOut, err := kubectl("apply", "-n", ns, "-f", writeManifest(tc.before))
				Expect(err).NotTo(HaveOccurred(), errOut)
			}
			_, errOut, err := kubectl("apply", "-n", ns, "-f", writeManifest(tc.manifest))
			Expect(err).To(HaveOccurred())
			Expect(errOut).To(ContainSubstring(tc.want))
		})
	}
})
