# syntax=docker/dockerfile:1
#
# Image of the Close.com source: `docker run --rm airbyte/source-close-com:<version> spec`.
# Built on Airbyte's Python connector base image, pinned by tag and digest so a rebuild gets the same layers.
# The digest must stay equal to `connectorBuildOptions.baseImage` in metadata.yaml (a unit test checks it).
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

LABEL io.airbyte.name="airbyte/source-close-com" \
      io.airbyte.version="1.0.0"

WORKDIR /airbyte/integration_code

# Only what building the package needs: its build configuration and the package itself (the manifest and the
# stream schemas are package data). Tests, the API simulator and benchmarks stay out (see .dockerignore).
COPY pyproject.toml ./
COPY source_close_com ./source_close_com

# Installed as root into the image's interpreter; the build leftovers are removed in the same layer.
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

# The base image ships an unprivileged `airbyte` user (uid 1000): the connector never runs as root.
USER airbyte

ENV AIRBYTE_ENTRYPOINT="source-close-com"
ENTRYPOINT ["source-close-com"]
