# syntax=docker/dockerfile:1
# Image of a nitric-host service, for the Nitric CLI's custom runtimes
# (nitric.yaml: `runtimes:` entry naming this file; docs/deploy.md). The CLI
# builds it for linux/amd64 with --build-arg HANDLER=<the service's matched
# file, relative to the build context>, the context being the runtime's
# `context` (default: the service's basedir). The context holds this
# repository at NITRIC_HOST_SRC (e.g. a git submodule) and the service's
# plugin sources. Every build command is a step of build-steps.sh, which CI
# runs on the host (tests/deploy/build_steps_test.sh).

# ---- build: nitric-host from source, then the service's plugins ----
FROM debian:12 AS build
ARG NITRIC_HOST_SRC=nitric-host
COPY ${NITRIC_HOST_SRC}/deploy/nitric/build-steps.sh /usr/local/bin/nitric-build-steps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(nitric-build-steps build-packages) \
 && rm -rf /var/lib/apt/lists/*
COPY ${NITRIC_HOST_SRC}/ /src/nitric-host/
# The same for every service of the project, so Docker reuses this layer:
# HANDLER is declared only below.
RUN BUILD_DIR=/tmp/nitric-host-build nitric-build-steps host /src/nitric-host /opt/nitric-host \
 && rm -rf /tmp/nitric-host-build
COPY . /src/app/
WORKDIR /src/app
ARG HANDLER
RUN test -n "${HANDLER}" || { echo "build with --build-arg HANDLER=<file>" >&2; exit 1; } \
 && nitric-build-steps plugins "${HANDLER}" /opt/nitric-host /out/plugins \
 && nitric-build-steps runtime-packages /opt/nitric-host/bin/nitric-host /out/plugins/*.so \
      > /out/runtime-packages

# ---- runtime: the host, the plugins and the libraries they link ----
FROM debian:12
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && xargs -a /tmp/runtime-packages env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
COPY --from=build /opt/nitric-host/bin/nitric-host /usr/bin/nitric-host
# Owned by root and not writable by the host's user, as the host requires.
COPY --from=build /out/plugins/ /usr/lib/nitric-host/plugins/
USER 65534:65534
# Nitric sets SERVICE_ADDRESS (and NITRIC_ENVIRONMENT=build while `nitric up`
# collects the declarations). In the cloud the provider's runtime wraps this
# image and runs the ENTRYPOINT as its child, stopping it with SIGTERM. Only
# /tmp is writable on AWS Lambda: the crash-quarantine records go there.
ENTRYPOINT ["/usr/bin/nitric-host", "--plugins", "/usr/lib/nitric-host/plugins", \
            "--state-dir", "/tmp/nitric-host"]
