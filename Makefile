# localytics-operator

# Versions of everything the build and the tests use, pinned.
KUBE_VERSION ?= 1.37.2
ETCD_VERSION ?= 3.7.3
VERSITYGW_VERSION ?= 1.8.0
FAKE_GCS_VERSION ?= 1.56.1
AZURITE_VERSION ?= 3.35.0
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

# Tools and the test control plane live in bin/ (git-ignored).
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUBEBUILDER_ASSETS ?= $(LOCALBIN)/k8s/$(KUBE_VERSION)
# The kubectl that talks to a cluster (install, deploy and their undoing): the
# one on PATH, else the one `make control-plane` built.
KUBECTL ?= $(or $(shell command -v kubectl 2>/dev/null),$(wildcard $(KUBEBUILDER_ASSETS)/kubectl),kubectl)
# The kubectl that renders dist/install.yaml: always the pinned one, so that
# the installer does not depend on the kustomize of whoever builds it.
KUBECTL_PINNED ?= $(KUBEBUILDER_ASSETS)/kubectl
VERSITYGW ?= $(LOCALBIN)/versitygw/$(VERSITYGW_VERSION)/versitygw
FAKE_GCS_SERVER ?= $(LOCALBIN)/fake-gcs-server/$(FAKE_GCS_VERSION)/fake-gcs-server
AZURITE ?= $(LOCALBIN)/azurite/$(AZURITE_VERSION)/node_modules/.bin/azurite-blob
export KUBEBUILDER_ASSETS VERSITYGW FAKE_GCS_SERVER AZURITE
# Tests use the credentials they are given, never the cloud's instance metadata.
export AWS_EC2_METADATA_DISABLED = true

# The manager's image, and the tool that builds and pushes it.
IMG ?= ghcr.io/localytics-operator/localytics-operator:v0.1.0
CONTAINER_TOOL ?= docker

GO_TEST_FLAGS ?= -race -count=1 -timeout 30m

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint with .golangci.yml.
	$(GOLANGCI_LINT) run

.PHONY: verify
verify: generate manifests ## Regenerate code, CRDs and RBAC, and fail if anything changed.
	@if [ -n "$$(git status --porcelain -- api config)" ]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- api config; git --no-pager diff --stat -- api config; exit 1; \
	fi

.PHONY: test
test: manifests generate fmt vet control-plane object-stores ## Run the tests against a real API server and the object stores (built once), then the end-to-end suite (make e2e).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/e2e)
	$(MAKE) --no-print-directory e2e

# The end-to-end suite drives the real binaries with kubectl: every user story
# of both kinds, 20 SIGKILLs mid-flight, failover, shards, the installer.
E2E_FLAGS ?= -count=1 -timeout 30m

.PHONY: e2e
e2e: manifests control-plane object-stores ## Run test/e2e: the manager, the simulator, the control plane and versitygw as processes, driven by kubectl.
	go test $(E2E_FLAGS) ./test/e2e/

.PHONY: bench
bench: control-plane object-stores ## Run the validation, upload and object-store benchmarks, hack/bench-upload.sh (operator vs curl), then the packing, budget-use, big-file and scale benchmarks (see docs/benchmarks.md).
	go test -run '^$$' -bench . -benchmem ./internal/importfile/ ./internal/localytics/... ./internal/source/
	hack/bench-upload.sh
	$(MAKE) bench-packing bench-budget bench-bigfile bench-scale

.PHONY: bench-packing
bench-packing: control-plane object-store ## 1,000 small ProfileImports of one scope packed into few uploads, against imports travelling alone (PACK_IMPORTS, PACK_ALONE_IMPORTS; see docs/benchmarks.md).
	go test -run '^$$' -bench BenchmarkPacking -benchtime 1x -timeout 3h ./test/e2e/

.PHONY: bench-bigfile
bench-bigfile: control-plane object-store ## A 1 GiB profile file from versitygw imported in parts: wall time, MB/s, the manager's peak RSS above idle (BIG_FILE_BYTES; see docs/benchmarks.md).
	go test -run '^$$' -bench BenchmarkBigFile -benchtime 1x -timeout 1h ./test/e2e/

.PHONY: bench-budget
bench-budget: control-plane object-store ## 100 imports travelling alone on a budget of 10 per 10s: the share of the slots used, never over (BUDGET_IMPORTS; see docs/benchmarks.md).
	go test -run '^$$' -bench BenchmarkBudgetUse -benchtime 1x -timeout 2h ./test/e2e/

.PHONY: bench-scale
bench-scale: control-plane object-store ## One operator under 2,000 ProfileImports and 500 AudienceLists on the vendor's call budgets, then a line of 100 draining slot by slot (SCALE_IMPORTS, SCALE_LISTS, SCALE_QUEUED; see docs/benchmarks.md).
	go test -run '^$$' -bench BenchmarkScale -benchtime 1x -timeout 3h ./test/e2e/

.PHONY: control-plane
control-plane: ## Build kube-apiserver, kubectl and etcd from the Go module proxy into bin/k8s (once).
	KUBE_VERSION=$(KUBE_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-control-plane.sh

.PHONY: object-store
object-store: ## Build versitygw, the S3-compatible store of the object-store tests, into bin/versitygw (once).
	VERSITYGW_VERSION=$(VERSITYGW_VERSION) hack/build-versitygw.sh

.PHONY: gcs-emulator
gcs-emulator: ## Build fake-gcs-server, the Google Cloud Storage emulator of the gs:// tests, into bin/fake-gcs-server (once).
	FAKE_GCS_VERSION=$(FAKE_GCS_VERSION) hack/build-fake-gcs-server.sh

.PHONY: azure-emulator
azure-emulator: ## Install Azurite, the Azure Storage emulator of the azblob:// tests (npm, on Node.js), into bin/azurite (once).
	AZURITE_VERSION=$(AZURITE_VERSION) hack/install-azurite.sh

.PHONY: object-stores
object-stores: object-store gcs-emulator azure-emulator ## The three stores of the tests: versitygw, fake-gcs-server, Azurite.

.PHONY: cluster
cluster: manifests control-plane ## Start a local control plane with the CRDs installed; kubeconfig in bin/kubeconfig.
	go build -o $(LOCALBIN)/cluster ./hack/cluster
	$(LOCALBIN)/cluster --crds config/crd/bases --kubeconfig $(LOCALBIN)/kubeconfig

.PHONY: demo
demo: manifests control-plane object-store ## The operator end to end: control plane, simulator, object store, operator, samples (DEMO_KEEP=1 keeps it running).
	hack/demo.sh

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster of the current kubeconfig.
	go run ./main.go

# render-default renders config/default with kubectl $(1) and sets the image
# of the manager, the only container, to $(IMG), failing unless exactly one
# image was set. (A sed on the output, not `kustomize edit set image`, which
# kubectl lacks and which would change the committed config/manager.)
define render-default
$(1) kustomize config/default | sed -E 's|^([[:space:]]+image:[[:space:]]+)[^[:space:]]+$$|\1$(IMG)|'
endef

.PHONY: docker-build
docker-build: ## Build the manager's image IMG with CONTAINER_TOOL (docker).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager's image IMG.
	$(CONTAINER_TOOL) push $(IMG)

# Where build-installer writes install.yaml: set on make's command line only
# (test/e2e renders into a temporary directory with DIST=...), so that a DIST
# in the environment, a name some CI systems use, cannot move dist/.
DIST = dist

.PHONY: build-installer
build-installer: manifests control-plane ## Write dist/install.yaml (CRDs, RBAC, the manager with image IMG) for `kubectl apply -f`.
	mkdir -p $(DIST)
	$(call render-default,$(KUBECTL_PINNED)) > $(DIST)/install.yaml.tmp
	@n=$$(grep -cE '^[[:space:]]+image:[[:space:]]+' $(DIST)/install.yaml.tmp); \
	if [ "$$n" != 1 ] || ! grep -qF 'image: $(IMG)' $(DIST)/install.yaml.tmp; then \
		echo "$(DIST)/install.yaml: expected exactly one image, $(IMG), found $$n images" >&2; rm -f $(DIST)/install.yaml.tmp; exit 1; \
	fi
	mv $(DIST)/install.yaml.tmp $(DIST)/install.yaml
	@echo "wrote $(DIST)/install.yaml (image $(IMG))"

.PHONY: chart
chart: manifests control-plane ## Write the Helm chart charts/localytics-operator from config/default (commit it; test/chart checks it).
	go run ./hack/chartgen --kubectl $(KUBECTL_PINNED) --config config/default --out charts/localytics-operator

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply -k config/crd

.PHONY: uninstall
uninstall: manifests ## Uninstall the CRDs (and so every resource of them); ignore-not-found=true to ignore missing ones.
	$(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator (config/default) with image IMG to the cluster of the current kubeconfig.
	$(call render-default,$(KUBECTL)) | $(KUBECTL) apply -f -

.PHONY: undeploy
undeploy: ## Remove the operator (config/default, CRDs included); ignore-not-found=true to ignore missing ones.
	$(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -k config/default

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs package $(2) at version $(3) as $(1), a versioned name
# so that a version bump installs the new one.
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
echo "installing $(2)@$(3)"; \
rm -f "$(1)"; \
GOBIN="$(LOCALBIN)" GOFLAGS= go install "$(2)@$(3)"; \
mv "$(LOCALBIN)/$$(basename "$(2)")" "$(1)"; \
}
endef
