# syntax=docker/dockerfile:1

# Mayfly's container image: one static binary on a distroless base, with
# no shell and no package manager, running as a non-root user.
#
#   docker build -t mayfly --build-arg VERSION="$(git describe --always)" .
#   docker run -p 8740:8740 -v mayfly-data:/var/lib/mayfly \
#       -e MAYFLY_ISSUER=http://localhost:8740 mayfly
#
# deploy/dockerfile_test.go holds this file to what the README promises.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/mayflyhq/mayfly/cli.Version=${VERSION}" \
	-o /out/mayfly ./cmd/mayfly
# The data directory, mode 0700 as serve wants it; a new volume mounted on
# it starts with its owner and mode.
RUN mkdir -p -m 0700 /out/lib/mayfly

# Distroless "static": CA certificates, /etc/passwd with the nonroot user
# (65532), tzdata; no shell, so every command below is in exec form.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mayfly /usr/local/bin/mayfly
COPY --from=build --chown=65532:65532 /out/lib/ /var/lib/
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENV MAYFLY_DATA=/var/lib/mayfly MAYFLY_ADDR=0.0.0.0:8740
VOLUME ["/var/lib/mayfly"]
EXPOSE 8740
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
	CMD ["/usr/local/bin/mayfly", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mayfly"]
CMD ["serve"]
