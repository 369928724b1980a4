# The manager's image: `make docker-build docker-push IMG=...`.
# test/install checks this file against the Makefile and config/manager.

# The Go of go.mod's `go` line.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# The modules first, in a layer of their own that changes only with go.mod and go.sum.
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

# The packages the manager is built from (test/install checks this list
# against `go list -deps .`).
COPY main.go main.go
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/

# The command of the Makefile's build target, statically linked for the platform of the image.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -o bin/manager .

# No shell, no package manager; the nonroot user (65532), as the Deployment's runAsUser.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/bin/manager /manager
USER 65532:65532

ENTRYPOINT ["/manager"]
