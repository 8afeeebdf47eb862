# The nextplane hub on Debian slim, as an unprivileged user.
#
#   docker build -t nextplane .
#   docker run -v /srv/nextplane/etc:/etc/nextplane:ro -v /srv/nextplane/data:/var/lib/nextplane \
#       -p 5269:5269 -p 5061:5061 -p 127.0.0.1:8080:8080 nextplane
#
# /etc/nextplane/nextplane.toml must make the listeners bind all addresses
# ([web] listen = "tcp:8080", [connectors.xmpp] listen = "tcp:5269"...) and
# keep state under /var/lib/nextplane. `docker kill --signal=HUP` reloads it.
FROM debian:bookworm-slim AS build
# Debian's own python3 (3.11 in bookworm); versions follow the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.cfg README.md LICENSE ./
COPY nextplane ./nextplane
COPY twisted ./twisted
RUN python3 -m venv /opt/nextplane \
    && /opt/nextplane/bin/pip install --no-cache-dir '.[postgresql]'

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/nextplane \
        --create-home --shell /usr/sbin/nologin nextplane
COPY --from=build /opt/nextplane /opt/nextplane
USER 10001:10001
WORKDIR /var/lib/nextplane
ENV PYTHONUNBUFFERED=1
EXPOSE 5269 5061 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/nextplane/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
ENTRYPOINT ["/opt/nextplane/bin/twistd", "--nodaemon", "--pidfile=", "nextplane"]
CMD ["--config", "/etc/nextplane/nextplane.toml"]
