# The agent as a container image; grafana/docker-compose.yml builds it with the repo root as
# context. ENTRYPOINT is the CLI, so `docker run IMAGE demo --duration 60` works as on a host.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/otc-agent

# Only what the install reads (README.md is the package's long description), so edits to tests
# or docs elsewhere do not invalidate the dependency layer.
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY agent ./agent
COPY onchain ./onchain
# A regular (non-editable) install: agent.store's migrations and onchain's IDL go along as
# package data. constraints.txt pins every dependency to the versions the suite was run with.
RUN pip install -c constraints.txt . \
    && rm -rf build otc_agent.egg-info

# The configs are not package data: the agent finds them through OTC_AGENT_CONFIG.
COPY configs ./configs

# The daemon needs no privileges: a system user owning only its home (database, keys, inbox).
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/otc-agent \
        --shell /usr/sbin/nologin otc \
    && install -d -o otc -g otc -m 0750 /var/lib/otc-agent

ENV OTC_AGENT_CONFIG=/opt/otc-agent/configs/local.toml \
    OTC_AGENT_HOME=/var/lib/otc-agent

USER otc
WORKDIR /var/lib/otc-agent
# The home holds the SQLite database and the generated keypairs: keep it on a volume.
VOLUME ["/var/lib/otc-agent"]

# metrics.listen stays 127.0.0.1:9108 unless OTC_AGENT__METRICS__LISTEN says otherwise
# (the compose file sets 0.0.0.0:9108 so Prometheus can reach it on the compose network).
EXPOSE 9108

ENTRYPOINT ["otc-agent"]
CMD ["run"]
