# Kumppani's image: one `kumppani serve` process per container, behind a proxy (deploy/, docs/deployment.md).
# Build: docker build -t kumppani .   Nothing in `make test` needs Docker.

# --- build: a virtual environment with the locked runtime dependencies and Kumppani itself
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/kumppani
COPY pyproject.toml requirements.lock README.md ./
COPY server ./server
COPY boards ./boards
COPY auth ./auth
COPY foundation ./foundation
COPY web ./web
# Not editable and without [dev]: the lock pins the versions, and no test or lint tool reaches the image.
RUN /opt/kumppani/bin/pip install -c requirements.lock . \
 && /opt/kumppani/bin/pip uninstall -y pip setuptools wheel

# --- run: the interpreter, the environment, and an unprivileged user
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 kumppani \
 && useradd --system --uid 10001 --gid kumppani --home-dir /var/lib/kumppani --create-home kumppani
COPY --from=build /opt/kumppani /opt/kumppani
ENV PATH=/opt/kumppani/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KUMPPANI_ENV=production \
    KUMPPANI_DATA_DIR=/var/lib/kumppani
USER 10001:10001
WORKDIR /var/lib/kumppani
EXPOSE 8000
# The proxy in front is the only client; trust its X-Forwarded-* headers (set it to the proxy's address).
ENV KUMPPANI_FORWARDED_ALLOW_IPS=127.0.0.1
# SIGTERM: uvicorn stops accepting, closes board sockets with 1012 and the app hands back its board leases.
STOPSIGNAL SIGTERM
# Health: /healthz (alive) and /readyz (database and Redis answer); Kubernetes and Compose probe them.
CMD ["sh", "-c", "exec kumppani serve --host 0.0.0.0 --port 8000 --forwarded-allow-ips \"$KUMPPANI_FORWARDED_ALLOW_IPS\""]
